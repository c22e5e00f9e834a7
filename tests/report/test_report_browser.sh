#!/usr/bin/env bash
# tests/report/test_report_browser.sh - an evaluate --report page for two
# models (binary and transfer) on 40 photos from ../shared, opened from disk in
# headless Chromium (report_browser.mjs, npm playwright-core): it loads nothing
# from outside, logs no error, lays out its three charts and decodes every
# thumbnail.  The screenshot stays in <build>/report-screenshots.  Skips (77)
# without ../shared; Chromium, node or playwright-core missing is a failure
# (scripts/install-deps.sh installs them).
set -u
bin=${CATDOG_BIN:?}
src=${CATDOG_SOURCE_DIR:?}
shared=${CATDOG_SHARED:-$src/../shared}
fail() { echo "FAIL: $*" >&2; exit 1; }
train=$shared/data/dogs-vs-cats/train
if [ ! -d "$train" ]; then
    echo "SKIP: $train not found (set CATDOG_SHARED); the report page is not rendered"
    exit 77
fi
command -v node >/dev/null || fail "node is not installed (scripts/install-deps.sh)"
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is not installed (scripts/install-deps.sh: Debian package chromium)"
[ -d "$src/node_modules/playwright-core" ] ||
    fail "npm playwright-core is not installed (run scripts/install-deps.sh, or npm install in $src)"
tmp=$(mktemp -d /tmp/catdog-report-browser.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/data/cats" "$tmp/data/dogs"
for i in $(seq 7900 7919); do
    ln -s "$train/cat.$i.jpg" "$tmp/data/cats/" && ln -s "$train/dog.$i.jpg" "$tmp/data/dogs/" || fail "cannot link photos"
done
CATDOG_WEIGHTS_DIR=$shared/weights "$bin" evaluate --data "$tmp/data" --model "$src/models/binary.h5" \
    --model "$src/models/transfer.h5" --report "$tmp/report.html" >"$tmp/out" 2>&1 ||
    fail "catdog evaluate --report: $(cat "$tmp/out")"
shots=$(dirname "$bin")/report-screenshots
mkdir -p "$shots"
NODE_PATH="$src/node_modules" timeout 120 node "$(dirname "$0")/report_browser.mjs" "$tmp/report.html" \
    "$shots/report.png" || fail "the report page did not render cleanly (screenshot: $shots/report.png)"
echo "PASS"
