#!/usr/bin/env bash
# make demo: start a bundled CPU-bound workload, attach sampled to it, show
# what samplectl reports, and stop cleanly.
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
sampled=$build/sampled
ctl=$build/samplectl

"$build/targets/spin" -t 4 -s 30 >/dev/null &
target=$!
trap 'kill $target 2>/dev/null || true' EXIT
sleep 0.2

echo "\$ sampled attach $target"
sock=$("$sampled" attach "$target")
echo "$sock"
sleep 3
echo
echo "\$ samplectl --pid $target status"
"$ctl" --pid "$target" status
echo
echo "\$ samplectl --pid $target tree"
"$ctl" --pid "$target" tree
echo
echo "\$ samplectl --pid $target stop"
"$ctl" --pid "$target" stop
[ ! -e "$sock" ] || { echo "demo: socket $sock left behind" >&2; exit 1; }
