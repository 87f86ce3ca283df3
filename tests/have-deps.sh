#!/bin/sh
# Exit 0 when every build and test dependency is present, 1 otherwise.
pkg-config --exists libunwind-generic libunwind libelf libdw libprotobuf-c cmocka zlib liblzma || exit 1
for c in protoc-c protoc cc make perf setpriv python3 nm objcopy xz clang strip valgrind; do
	command -v "$c" >/dev/null 2>&1 || exit 1
done
# Debian's libc carries no static symbols; its debug file names them.
dpkg-query -W -f='${Status}' libc6-dbg 2>/dev/null | grep -q 'install ok installed' || exit 1
# The fuzz targets (make fuzz) link clang's libFuzzer runtime.
dpkg-query -W -f='${Status}' libclang-rt-dev 2>/dev/null | grep -q 'install ok installed' || exit 1
exit 0
