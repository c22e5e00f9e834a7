#!/usr/bin/env bash
# test_keras3_archive.sh - Keras 3 .keras archives written here by h5py +
# zipfile in Keras 3's layout (keras3_fixture.py: a functional model with a
# nested Sequential, a nested functional model, a Concatenate of two
# branches and a residual Add; Keras 3 node form; weight groups by class +
# counter):
#   - catdog reads both (softmax head; linear head compiled with
#     from_logits=True) and gives the P(dog) NumPy computes, within 1e-5;
#   - `info` names the output rule it chose and why; --preprocess tf and
#     --classes dog,cat change the result as NumPy says;
#   - `export --out x.keras` writes an archive whose weight groups are exactly
#     those Keras 3 derives from its config.json, and which loads back with
#     the same output (and .h5 likewise); any other extension is refused;
#   - weights-only files (Keras 3 .weights.h5, Keras 2 save_weights) load onto
#     the architecture --config names, with the same output.
# Needs Debian's /usr/bin/python3 with h5py, numpy and PIL; skips (77) without.
set -euo pipefail
BIN=${CATDOG_BIN:?CATDOG_BIN must point at the catdog binary}
SRC=${CATDOG_SOURCE_DIR:?CATDOG_SOURCE_DIR must point at the source tree}
PY=/usr/bin/python3
FIX="$SRC/tests/modelfile/keras3_fixture.py"
if ! "$PY" -c 'import h5py, numpy, PIL' 2>/dev/null; then
  echo "SKIP: $PY lacks h5py/numpy/PIL (Debian python3-h5py python3-numpy python3-pil)"
  exit 77
fi
T=$(mktemp -d /tmp/catdog_keras3.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$PY" "$FIX" "$T"
p_dog() { # model -> P(dog) of the photo, as printed with --json
  "$BIN" predict --json --threads 1 --model "$1" "$T/photo.png" |
    sed -E 's/.*"p_dog":([^,]+),.*/\1/'
}
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }

while IFS=$'\t' read -r name want; do
  got=$(p_dog "$T/$name") || fail "$name: predict failed"
  close "$got" "$want" 1e-5 || fail "$name: P(dog) $got, NumPy says $want"
  for ext in keras h5; do
    "$BIN" export --model "$T/$name" --out "$T/rt_$name.$ext" >/dev/null || fail "$name: export .$ext failed"
    again=$(p_dog "$T/rt_$name.$ext") || fail "$name: the exported .$ext does not load"
    [ "$again" = "$got" ] || fail "$name: exported .$ext gives $again, the original $got"
  done
  "$PY" "$FIX" --check-layout "$T/rt_$name.keras" >"$T/layout" || fail "$name: $(cat "$T/layout")"
  "$PY" "$FIX" --check-layout "$T/$name" >/dev/null || fail "$name: the fixture itself is off Keras 3's layout"
  echo "ok: $name P(dog) $got (NumPy $want), export round trips"
done <"$T/expected.tsv"

"$BIN" info "$T/softmax.keras" | grep -q "^Output: probability (last layer 'head_out' ends in softmax)" ||
  fail "info does not say the softmax output is used as is"
"$BIN" info "$T/logits.keras" | grep -q "^Output: logits (linear last layer, trained with SparseCategoricalCrossentropy(from_logits))" ||
  fail "info does not say the linear output is read as logits"
"$BIN" info "$T/rt_logits.keras.keras" | grep -q "^Output: logits (.*from_logits" ||
  fail "the exported archive lost the from_logits loss"
# --classes dog,cat reads class 0 as dog.
sw=$("$BIN" predict --json --classes dog,cat --model "$T/softmax.keras" "$T/photo.png" |
  sed -E 's/.*"p_dog":([^,]+),.*/\1/')
close "$sw" "$(awk -v p="$(p_dog "$T/softmax.keras")" 'BEGIN { print 1 - p }')" 2e-6 ||
  fail "--classes dog,cat: P(dog) $sw"

# --preprocess tf overrides the model's mode: x / 127.5 - 1.
tf=$("$BIN" predict --json --preprocess tf --model "$T/softmax.keras" "$T/photo.png" |
  sed -E 's/.*"p_dog":([^,]+),.*/\1/')
close "$tf" "$(cat "$T/expected_tf.txt")" 1e-5 || fail "--preprocess tf: P(dog) $tf, NumPy $(cat "$T/expected_tf.txt")"

# Weights-only files onto an architecture given by --config: Keras 3's
# .weights.h5 (model.weights.h5 is that layout) with the archive's config.json,
# and Keras 2's save_weights layout (model_weights at the root) likewise.
"$PY" - "$T" <<'PYEOF'
import sys, zipfile, h5py
t = sys.argv[1]
z = zipfile.ZipFile(t + "/softmax.keras")
open(t + "/model.json", "wb").write(z.read("config.json"))
open(t + "/softmax.weights.h5", "wb").write(z.read("model.weights.h5"))
with h5py.File(t + "/rt_softmax.keras.h5", "r") as src, h5py.File(t + "/k2.weights.h5", "w") as dst:
    for k, v in src["model_weights"].attrs.items():
        dst.attrs[k] = v
    for k in src["model_weights"]:
        src.copy(src["model_weights"][k], dst, name=k)
PYEOF
want=$(p_dog "$T/softmax.keras")
for w in softmax.weights.h5 k2.weights.h5; do
  got=$("$BIN" predict --json --config "$T/model.json" --model "$T/$w" "$T/photo.png" |
    sed -E 's/.*"p_dog":([^,]+),.*/\1/') || fail "$w with --config failed"
  [ "$got" = "$want" ] || fail "$w with --config: P(dog) $got, the archive gives $want"
done
set +e
"$BIN" predict --model "$T/softmax.weights.h5" "$T/photo.png" 2>"$T/err"; rc=$?
set -e
[ $rc != 0 ] && grep -q "Keras 3 weights-only file (.weights.h5); load it onto an architecture" "$T/err" ||
  fail "a .weights.h5 as a model: exit $rc, $(cat "$T/err")"
echo "ok: weights-only files with --config"

set +e
"$BIN" export --model "$T/softmax.keras" --out "$T/x.bin" 2>"$T/err"; rc=$?
set -e
[ $rc = 2 ] || fail "export to .bin: exit $rc, expected 2"
grep -q "must end in .keras" "$T/err" || fail "export to .bin: $(cat "$T/err")"
[ ! -e "$T/x.bin" ] || fail "export to .bin wrote a file"
echo "ok: info, --classes, export extensions"
