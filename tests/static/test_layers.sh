#!/usr/bin/env bash
# The layering check (tests/static/layers.py) on the tree as it is, then on
# copies of it with one wrong include added each, which it must refuse.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
check="$here/layers.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }

if out=$(python3 "$check" "$root" 2>&1); then
	ok "the tree follows the layers: ${out##*$'\n'}"
else
	not_ok "the tree follows the layers"
	echo "$out" | sed 's/^/# /'
fi

# refused FILE LINE EXPECTED WHAT: a copy of the tree with LINE added to FILE
# must fail the check with a message holding EXPECTED.
refused() {
	local file=$1 line=$2 expected=$3 what=$4 copy="$tmp/tree$n" out rc
	mkdir -p "$copy"
	cp -r "$root/daemon" "$root/cli" "$root/common" "$root/proto" "$copy/"
	printf '%s\n' "$line" >>"$copy/$file"
	out=$(python3 "$check" "$copy" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && grep -qF -- "$expected" <<<"$out"; then
		ok "refused: $what ($(grep -F -- "$expected" <<<"$out" | head -n 1))"
	else
		not_ok "refused: $what (exit $rc)"
		echo "$out" | sed 's/^/# /'
	fi
	rm -rf "$copy"
}

refused daemon/symbols/maps.c '#include "profile/tree.h"' \
	'daemon/symbols/maps.c:' 'symbols/ including profile/, a layer above it'
refused daemon/sample/target.c '#include "unwind/unwind.h"' \
	'an include going up the layers' 'sample/ including unwind/'
refused daemon/serve/dump.c '#include "options.h"' \
	'daemon/serve/dump.c:' 'serve/ including the top-level options.h unqualified'
refused daemon/profile/profile.c '#include "maps.h"' \
	'is no header of the project' 'another folder'"'"'s header named without its folder'
refused cli/view.c '#include "../daemon/profile/tree.h"' \
	'cli/ must not use daemon/' 'the client including a daemon header'
refused common/log.c '#include "../daemon/sample/target.h"' \
	'common/ is below daemon/sample/' 'common/ including the daemon'
refused daemon/profile/tree.h '#include "frames.h"' \
	'include cycle among modules' 'two modules including each other'

echo "1..$n"
