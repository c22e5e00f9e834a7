#!/usr/bin/env bash
# test_http_tta.sh - `catdog serve --tta`: flip averaging in the service.
#   - /api/v1/models says "tta": true with --tta (and CATDOG_TTA=1), false without;
#   - each photo served with --tta gets `catdog predict --tta`'s P(dog), and
#     that is the mean of predict's P(dog) for the photo and for its mirror
#     made here with Pillow (150x150 PNGs, so catdog flips exactly the pixels
#     Pillow flipped);
#   - without --tta the service gives the plain prediction, which differs.
# Real photos from ../shared and the shipped models/binary.h5 (skips, 77, without ../shared).
. "$(dirname "$0")/lib.sh"
require_tools curl python3

TRAIN="$SHARED/data/dogs-vs-cats/train"
[ -d "$TRAIN" ] || skip "$TRAIN not found (set CATDOG_SHARED to the shared folder)"
/usr/bin/python3 -c 'import PIL' 2>/dev/null || fail "Pillow missing for /usr/bin/python3 (scripts/install-deps.sh installs python3-pil)"

mkdir -p "$WORK/models" "$WORK/tta"
ln -s "$CATDOG_SOURCE_DIR/models/binary.h5" "$WORK/models/"
/usr/bin/python3 - "$TRAIN" "$WORK/tta" <<'PY' || fail "Pillow could not make the photos"
import sys
from PIL import Image, ImageOps
train, out = sys.argv[1:]
for i, n in enumerate(['cat.7900', 'dog.7900', 'cat.7901', 'dog.7901', 'cat.7902', 'dog.7902']):
    im = Image.open('%s/%s.jpg' % (train, n)).convert('RGB').resize((150, 150), Image.BILINEAR)
    im.save('%s/a%d.png' % (out, i))
    ImageOps.mirror(im).save('%s/m%d.png' % (out, i))
PY
A=(); M=()
for i in 0 1 2 3 4 5; do A+=("$WORK/tta/a$i.png"); M+=("$WORK/tta/m$i.png"); done

predict() { # OUT ARGS...
    local out=$1; shift
    "$CATDOG_BIN" predict --json --model "$WORK/models/binary.h5" "$@" >"$out" 2>"$WORK/cli.err" ||
        fail "catdog predict $*: $(cat "$WORK/cli.err")"
}
predict "$WORK/plain.jsonl" "${A[@]}"
predict "$WORK/mirror.jsonl" "${M[@]}"
predict "$WORK/tta.jsonl" --tta "${A[@]}"

# serve_all NAME: every photo through POST /api/v1/predict into $WORK/NAME.tsv.
serve_all() {
    : >"$WORK/$1.tsv"
    for p in "${A[@]}"; do
        req POST "/api/v1/predict?model=binary" -F "inputfile=@$p"
        expect_status 200 "$(basename "$p")"
        printf '%s\t%s\n' "$p" "$(cat "$WORK/body")" >>"$WORK/$1.tsv"
    done
}

start_server --tta --threads 2
req GET /api/v1/models
expect_status 200 "models"
json_check 'j["models"][0]["tta"] is True' "--tta: /api/v1/models says tta true"
grep -q "model binary (.*flip averaging" "$WORK/server.err" || fail "the start-up line does not mention flip averaging"
serve_all served-tta
stop_server
CATDOG_TTA=1 start_server --threads 2
req GET /api/v1/models
json_check 'j["models"][0]["tta"] is True' "CATDOG_TTA=1: /api/v1/models says tta true"
stop_server
start_server --threads 2
req GET /api/v1/models
json_check 'j["models"][0]["tta"] is False' "without --tta: /api/v1/models says tta false"
serve_all served-plain
stop_server

# Both sides print 6 digits (predict's JSON 6 significant, the API 6
# decimals): up to 5e-7 each, so 1e-6 is the rounding's worst case on the same
# float32 computation.  Measured here: |serve --tta - predict --tta| 2.2e-7,
# |predict --tta - mean(photo, mirror)| 5e-7.
msg=$(/usr/bin/python3 - "$WORK" <<'PY' 2>&1
import json, sys
w = sys.argv[1]
load = lambda f: {j['file']: j['p_dog'] for j in map(json.loads, open('%s/%s.jsonl' % (w, f)))}
plain, mirror, tta = load('plain'), load('mirror'), load('tta')
def served(name):
    out = {}
    for line in open('%s/%s.tsv' % (w, name)):
        path, body = line.rstrip('\n').split('\t', 1)
        out[path] = json.loads(body)['probabilities']['dog']
    return out
s_tta, s_plain = served('served-tta'), served('served-plain')
worst_mean = worst_served = worst_plain = moved = 0.0
for path, t in tta.items():
    m = mirror[path.replace('/a', '/m')]
    worst_mean = max(worst_mean, abs(t - (plain[path] + m) / 2))
    worst_served = max(worst_served, abs(s_tta[path] - t))
    worst_plain = max(worst_plain, abs(s_plain[path] - plain[path]))
    moved = max(moved, abs(t - plain[path]))
print('%d photos: |predict --tta - mean(photo, mirror)| <= %.3g, |serve --tta - predict --tta| <= %.3g, '
      '|serve - predict| <= %.3g, --tta moved P(dog) by up to %.3g'
      % (len(tta), worst_mean, worst_served, worst_plain, moved))
assert len(tta) == 6 and len(s_tta) == 6
assert worst_mean <= 1e-6 and worst_served <= 1e-6 and worst_plain <= 1e-6
assert moved > 1e-3  # the flip matters for these photos
PY
) || fail "$msg"
ok "$msg"
echo "PASS ($N_CHECKS checks)"
