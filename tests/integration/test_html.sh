#!/usr/bin/env bash
# samplectl tree --html in a real browser: pages from a live daemon and
# big synthetic ones are opened in Debian's headless Chromium, driven by
# playwright-core (tests/html/drive.js), which clicks, types and presses
# keys like a person and checks what the page shows.  Screenshots go to
# BUILD/test-artifacts/.  Chromium comes from apt (installed here when
# missing and we are root); playwright-core from npm, pinned by
# tests/html/package-lock.json, into BUILD/npm; it never downloads a
# browser of its own.
. "$(dirname "$0")/lib.sh"

ROOT_DIR=$(cd "$(dirname "$0")/../.." && pwd)
NPM_DIR=$B/npm
ARTIFACTS=$B/test-artifacts
GEN=$B/tests/test_render_html

if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ]; then
	echo "# installing chromium from Debian"
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		>"$WORK/apt.log" 2>&1
fi
if [ ! -x /usr/bin/chromium ]; then
	not_ok "chromium is installed (apt-get install chromium)"
	sed 's/^/# /' "$WORK/apt.log" 2>/dev/null | tail -n 5
	exit 1
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	not_ok "node and npm are installed"
	exit 1
fi
if [ ! -f "$NPM_DIR/node_modules/playwright-core/package.json" ] ||
	! cmp -s "$ROOT_DIR/tests/html/package-lock.json" "$NPM_DIR/package-lock.json"; then
	rm -rf "$NPM_DIR"
	mkdir -p "$NPM_DIR"
	cp "$ROOT_DIR/tests/html/package.json" "$ROOT_DIR/tests/html/package-lock.json" "$NPM_DIR/"
	if ! (cd "$NPM_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund \
		--loglevel=error) >"$WORK/npm.log" 2>&1; then
		not_ok "npm ci installs playwright-core into $NPM_DIR"
		sed 's/^/# /' "$WORK/npm.log" | tail -n 10
		rm -rf "$NPM_DIR"
		exit 1
	fi
fi
mkdir -p "$ARTIFACTS"

# A live profile: split with two threads, sampled at 499 Hz for 3 s, then stopped so
# that every page and the status agree on the sample count.
sock=$WORK/s.sock
"$TARGETS/split" -t 2 -s 30 >"$WORK/split.out" &
pid=$!
CHILDREN+=($pid)
wait_for "grep -q ready '$WORK/split.out' 2>/dev/null" 10
"$SAMPLED" attach --rate 499 --socket "$sock" $pid >/dev/null
sleep 3
kill $pid
wait $pid 2>/dev/null
wait_for "[ \"\$(json_field '$sock' \"s['state']\" 2>/dev/null)\" = exited ]" 10
samples=$(json_field "$sock" "s['samples']")
echo "# live profile: $samples samples"

check "tree --html writes a page" \
	quiet "$CTL" --socket "$sock" tree --html -o "$WORK/page.html"
check "tree --html --threads writes a page" \
	quiet "$CTL" --socket "$sock" tree --html --threads -o "$WORK/threads.html"
check "tree --html --show-all writes a page" \
	quiet "$CTL" --socket "$sock" tree --html --show-all -o "$WORK/unfolded.html"
quiet "$CTL" --socket "$sock" stop

# Synthetic pages: a 100k-node tree merged and per thread, and a 20k-node
# one unfolded and folded by view_collapse for the folding comparison.
check "the generator writes a 100k-node page" quiet "$GEN" --page "$WORK/big.html" 100000
check "the generator writes a 100k-node per-thread page" \
	quiet "$GEN" --page "$WORK/big-threads.html" 100000 4
check "the generator writes the folding pages" eval \
	"'$GEN' --page '$WORK/fold-raw.html' 20000 3 >/dev/null &&
	 '$GEN' --page '$WORK/fold-c0.html' 20000 3 0 >/dev/null &&
	 '$GEN' --page '$WORK/fold-c1.html' 20000 3 0.005 >/dev/null"

NODE_PATH="$NPM_DIR/node_modules" timeout 300 node "$ROOT_DIR/tests/html/drive.js" \
	--artifacts "$ARTIFACTS" --samples "$samples" \
	--live "$WORK/page.html" --threads "$WORK/threads.html" --unfolded "$WORK/unfolded.html" \
	--big "$WORK/big.html" --big-threads "$WORK/big-threads.html" \
	--fold-raw "$WORK/fold-raw.html" --fold-c0 "$WORK/fold-c0.html" \
	--fold-c1 "$WORK/fold-c1.html" --fold-share 0.005
rc=$?
check "the browser checks ran to their end (exit $rc)" [ $rc -le 1 ]
check "a screenshot was taken" test -s "$ARTIFACTS/html.png"
