#!/usr/bin/env bash
# tests/cli/test_predict_options.sh - `catdog predict` options from the command
# line, each against an expectation computed another way, on real photos from
# ../shared with the shipped model (skips, 77, without ../shared):
#   --backend ref   the plain-C reference gives P(dog) within 1e-4 of oneDNN's;
#   --tta           differs from the plain prediction and equals the mean of the
#                   photo's and its mirror's, the mirror made here with Pillow
#                   (the photos are resized to the model's 150x150 first, so
#                   catdog flips exactly what Pillow flipped);
#   --preprocess    `none` on a photo of 0/1 pixels equals the model's own
#                   `rescale` (x/255) on the same photo with 0/255 pixels;
#                   `rescale` equals the default; a bad value is a usage error.
# Every run's exit status is checked, and its stderr for sanitizer reports.
set -u
bin=${CATDOG_BIN:?}
src=${CATDOG_SOURCE_DIR:?}
shared=${CATDOG_SHARED:-$src/../shared}
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d /tmp/catdog-predict-opts.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# predict OUT ARGS...: `catdog predict --json ARGS` into OUT; fails unless it
# exits 0 with no sanitizer report.
predict() {
    local out=$1 rc=0; shift
    "$bin" predict --json "$@" >"$out" 2>"$tmp/err" || rc=$?
    [ $rc -eq 0 ] || fail "catdog predict $*: exit status $rc: $(cat "$tmp/err")"
    ! grep -qE 'Sanitizer|runtime error:' "$tmp/err" || fail "catdog predict $*: sanitizer report: $(cat "$tmp/err")"
}
# compare A B TOL WHAT: the i-th probabilities of the JSON lines in A and B differ by at most TOL.
compare() {
    "$PY" - "$@" <<'PY' || fail "$4"
import json, sys
a, b, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
pa = [json.loads(l)['p_dog'] for l in open(a)]
pb = [json.loads(l)['p_dog'] for l in open(b)]
assert len(pa) == len(pb) > 0, (pa, pb)
worst = max(abs(x - y) for x, y in zip(pa, pb))
print('   %s: largest difference %.3g (tolerance %g)' % (sys.argv[4], worst, tol))
sys.exit(0 if worst <= tol else 1)
PY
}

# Usage errors need no photo.
rc=0; "$bin" predict --preprocess bogus x.jpg >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 2 ] || fail "--preprocess bogus: exit status $rc, expected 2"
grep -q -- "--preprocess wants rescale, caffe, tf, torch or none" "$tmp/err" || fail "--preprocess bogus: $(cat "$tmp/err")"
rc=0; "$bin" predict --backend gpu x.jpg >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 2 ] || fail "--backend gpu: exit status $rc, expected 2"
grep -q -- "--backend wants dnnl or ref" "$tmp/err" || fail "--backend gpu: $(cat "$tmp/err")"
echo "ok - bad --preprocess and --backend values are usage errors (2)"

if [ ! -f "$shared/README.md" ]; then
    echo "SKIP: ../shared not found (set CATDOG_SHARED); predict option checks on photos not run"
    exit 77
fi
"$PY" -c 'import PIL' 2>/dev/null || fail "Pillow not installed (scripts/install-deps.sh installs python3-pil)"
photos=()
for i in 7900 7901 7902; do
    photos+=("$shared/data/dogs-vs-cats/train/cat.$i.jpg" "$shared/data/dogs-vs-cats/train/dog.$i.jpg")
done

# ---- --backend ref against oneDNN ----
predict "$tmp/dnnl.json" "${photos[@]}"
predict "$tmp/ref.json" --backend ref "${photos[@]}"
compare "$tmp/dnnl.json" "$tmp/ref.json" 1e-4 "--backend ref vs oneDNN"
echo "ok - --backend ref: P(dog) within 1e-4 of oneDNN on ${#photos[@]} photos"

# ---- --tta against the mean of the photo and its mirror ----
# Pillow writes, per photo, a 150x150 PNG (lossless), its mirror, and the 0/255
# and 0/1 versions used below.
"$PY" - "$tmp" "${photos[@]}" <<'PY' || fail "Pillow could not make the test photos"
import sys
from PIL import Image, ImageOps
out = sys.argv[1]
for i, path in enumerate(sys.argv[2:]):
    im = Image.open(path).convert('RGB').resize((150, 150), Image.BILINEAR)
    im.save('%s/a%d.png' % (out, i))
    ImageOps.mirror(im).save('%s/m%d.png' % (out, i))
    bw = im.point(lambda v: 255 if v >= 128 else 0)
    bw.save('%s/bw255-%d.png' % (out, i))
    bw.point(lambda v: 1 if v else 0).save('%s/bw1-%d.png' % (out, i))
PY
n=${#photos[@]}
A=(); M=(); B255=(); B1=()
for i in $(seq 0 $((n - 1))); do
    A+=("$tmp/a$i.png"); M+=("$tmp/m$i.png"); B255+=("$tmp/bw255-$i.png"); B1+=("$tmp/bw1-$i.png")
done
predict "$tmp/plain.json" "${A[@]}"
predict "$tmp/mirror.json" "${M[@]}"
predict "$tmp/tta.json" --tta "${A[@]}"
"$PY" - "$tmp" <<'PY' || fail "--tta is not the mean of the photo and its mirror, or equals the plain prediction"
import json, sys
d = sys.argv[1]
load = lambda f: [json.loads(l)['p_dog'] for l in open('%s/%s.json' % (d, f))]
plain, mirror, tta = load('plain'), load('mirror'), load('tta')
mean = [(x + y) / 2 for x, y in zip(plain, mirror)]
off = max(abs(t - m) for t, m in zip(tta, mean))
moved = max(abs(t - p) for t, p in zip(tta, plain))
print('   --tta: largest difference from the mean of photo and mirror %.3g, from plain %.3g' % (off, moved))
# 1e-5: the flipped copy runs in a batch of two, the mirror alone (float32).
assert off <= 1e-5, off
# A real photo and its mirror do not get the same P(dog) to 1e-3.
assert moved > 1e-3, moved
PY
echo "ok - --tta: the mean of the photo and its mirror, not the plain prediction"

# ---- --preprocess ----
predict "$tmp/default.json" "${B255[@]}"
predict "$tmp/rescale.json" --preprocess rescale "${B255[@]}"
compare "$tmp/default.json" "$tmp/rescale.json" 0 "--preprocess rescale vs the default"
predict "$tmp/none.json" --preprocess none "${B1[@]}"
compare "$tmp/default.json" "$tmp/none.json" 1e-5 "--preprocess none on 0/1 pixels vs rescale on 0/255"
predict "$tmp/none255.json" --preprocess none "${B255[@]}"
"$PY" - "$tmp/default.json" "$tmp/none255.json" <<'PY' || fail "--preprocess none changed nothing"
import json, sys
a = [json.loads(l)['p_dog'] for l in open(sys.argv[1])]
b = [json.loads(l)['p_dog'] for l in open(sys.argv[2])]
sys.exit(0 if max(abs(x - y) for x, y in zip(a, b)) > 1e-3 else 1)
PY
echo "ok - --preprocess: none on 0/1 pixels = rescale on 0/255; rescale = the default; none changes the input"
echo "PASS"
