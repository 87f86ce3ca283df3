#!/usr/bin/env bash
# A short run of the libFuzzer targets (tests/fuzz): the ELF and symbol
# reader, the unwind tables, and the daemon's request handling.  Builds
# them with clang and the sanitizers (`make fuzz-build`, into
# BUILD-libfuzzer), then runs each for FUZZ_SECONDS (10 by default; `make
# fuzz` runs them longer); any crash, leak or undefined behaviour fails.
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# The Makefile names build directories relative to the tree.
REL=${B#"$ROOT"/}

# A make of its own: not the flags or jobserver of a `make check` around us.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$ROOT" -j2 --no-print-directory \
	BUILD="$REL" fuzz-build >"$WORK/build.log" 2>&1; then
	not_ok "building the fuzz targets (make BUILD=$REL fuzz-build)"
	tail -n 40 "$WORK/build.log" | sed 's/^/# /'
	exit 1
fi
ok "building the fuzz targets"
"$ROOT/tests/fuzz/run.sh" "$ROOT/$REL-libfuzzer" "${FUZZ_SECONDS:-10}" "$TARGETS"
