#!/usr/bin/env bash
# test_browser.sh - the upload page in a real browser: headless Debian
# Chromium driven by npm playwright-core (tests/web/browser.mjs).  Opens
# /template, uploads a cat photo and a dog photo from ../shared and a file that
# is not an image, checks verdicts, probabilities, the help page, the history
# and feedback, the language switch, a phone-sized page without JavaScript, and
# that nothing is loaded from outside.  Screenshots go to <build>/web-screenshots.
#
# The verdicts are checked for correctness only with the trained
# models/binary.h5; with a random-weights model only their shape is.
. "$(dirname "$0")/lib.sh"
require_tools node python3
# Both come with scripts/install-deps.sh: missing, the setup is broken (a failure).
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is not installed (run scripts/install-deps.sh: Debian package chromium)"
[ -d "$CATDOG_SOURCE_DIR/node_modules/playwright-core" ] ||
    fail "npm playwright-core is not installed (run scripts/install-deps.sh, or npm install in $CATDOG_SOURCE_DIR)"

CHECK_VERDICTS=0
if [ -f "$CATDOG_SOURCE_DIR/models/binary.h5" ]; then
    MODELS="$CATDOG_SOURCE_DIR/models"
    CHECK_VERDICTS=1
    # The transfer model's backbone weights (it is served too when they are found).
    [ -d "$SHARED/weights" ] && export CATDOG_WEIGHTS_DIR="$SHARED/weights"
else
    echo "# models/binary.h5 is not there yet: serving a random-weights model; verdict correctness not checked"
    make_model "$WORK/models"
fi
if [ -f "$SHARED/data/dogs-vs-cats/train/cat.1.jpg" ]; then
    CAT_PHOTO=${CATDOG_BROWSER_CAT:-$SHARED/data/dogs-vs-cats/train/cat.1.jpg}
    DOG_PHOTO=${CATDOG_BROWSER_DOG:-$SHARED/data/dogs-vs-cats/train/dog.1.jpg}
else
    echo "# ../shared is absent: uploading made-up photos; verdict correctness not checked"
    CAT_PHOTO=$(photo jpeg 200 200 1)
    DOG_PHOTO=$(photo jpeg 200 200 2)
    CHECK_VERDICTS=0
fi
printf 'Not a photo at all.\n' >"$WORK/notes.jpg"

start_server
SHOTS="$BUILD_DIR/web-screenshots"
rm -rf "$SHOTS"
CATDOG_URL="$BASE" ADMIN_TOKEN="$ADMIN_TOKEN" CAT_PHOTO="$CAT_PHOTO" DOG_PHOTO="$DOG_PHOTO" NOT_IMAGE="$WORK/notes.jpg" SHOTS="$SHOTS" \
    CHECK_VERDICTS="$CHECK_VERDICTS" NODE_PATH="$CATDOG_SOURCE_DIR/node_modules" \
    timeout 300 node "$(dirname "$0")/browser.mjs" || fail "browser checks failed (screenshots in $SHOTS)"
stop_server
echo "screenshots: $SHOTS"
