#!/usr/bin/env bash
# test_keras_prep_layers.sh - Keras files with Normalization (adapted mean,
# variance and an integer count), Rescaling with per-channel scale and offset
# lists (Keras 3's form, EfficientNet's rescaling_1 scales), Resizing (bilinear and nearest), CenterCrop
# and SeparableConv2D, written by h5py + zipfile as Keras 3 (.keras) and
# tf.keras 2 (.h5) save them (keras_prep_fixture.py):
#   - both load and give, in both backends, the P(dog) an independent NumPy
#     pass written from Keras' definitions computes, within 1e-5;
#   - `info` says raw pixels go in because of the Normalization layer, and
#     counts the parameters as Keras does (Normalization's 7 non-trainable);
#   - `export --out x.keras` and `x.h5` write files that load back with the
#     same output, the archive in Keras 3's weight layout, count an int64.
# Needs Debian's /usr/bin/python3 with h5py, numpy and PIL; skips (77) without.
set -euo pipefail
BIN=${CATDOG_BIN:?CATDOG_BIN must point at the catdog binary}
SRC=${CATDOG_SOURCE_DIR:?CATDOG_SOURCE_DIR must point at the source tree}
PY=/usr/bin/python3
if ! "$PY" -c 'import h5py, numpy, PIL' 2>/dev/null; then
  echo "SKIP: $PY lacks h5py/numpy/PIL (Debian python3-h5py python3-numpy python3-pil)"
  exit 77
fi
T=$(mktemp -d /tmp/catdog_keras_prep.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$PY" "$SRC/tests/modelfile/keras_prep_fixture.py" "$T"
want=$(cat "$T/expected.txt")
p_dog() { # model [backend] -> P(dog) of the photo, as printed with --json
  "$BIN" predict --json --threads 1 --backend "${2:-dnnl}" --model "$1" "$T/photo.png" |
    sed -E 's/.*"p_dog":([^,]+),.*/\1/'
}
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }

for f in prep.keras prep.h5; do
  for b in dnnl ref; do
    got=$(p_dog "$T/$f" $b) || fail "$f ($b): predict failed"
    close "$got" "$want" 1e-5 || fail "$f ($b): P(dog) $got, NumPy says $want"
  done
  "$BIN" info "$T/$f" >"$T/info" || fail "$f: info failed"
  grep -q "^Preprocessing: none (the model has a Normalization layer ('norm'): raw pixels go in)" "$T/info" ||
    fail "$f: info does not say raw pixels go in: $(grep Preprocessing "$T/info")"
  grep -q "^Non-trainable params: 7" "$T/info" || fail "$f: Keras counts 7 non-trainable parameters"
  got=$(p_dog "$T/$f")
  for ext in keras h5; do
    "$BIN" export --model "$T/$f" --out "$T/rt_$f.$ext" >/dev/null || fail "$f: export .$ext failed"
    again=$(p_dog "$T/rt_$f.$ext") || fail "$f: the exported .$ext does not load"
    [ "$again" = "$got" ] || fail "$f: exported .$ext gives $again, the original $got"
  done
  # the lists come back as lists with the same float32 values
  "$PY" - "$T/rt_$f.keras" <<'PYEOF' || fail "$f: the exported archive's Rescaling lists differ"
import json, math, sys, zipfile
import numpy as np
cfg = json.loads(zipfile.ZipFile(sys.argv[1]).read("config.json"))
def find(v):
    if isinstance(v, dict):
        if v.get("class_name") == "Rescaling":
            return v["config"]
        v = list(v.values())
    if isinstance(v, list):
        for e in v:
            r = find(e)
            if r is not None:
                return r
    return None
c = find(cfg)
want_s = np.float32([1.0 / math.sqrt(s) for s in (0.229, 0.224, 0.225)])
sys.exit(not (isinstance(c["scale"], list) and isinstance(c["offset"], list)
              and np.array_equal(np.float32(c["scale"]), want_s)
              and np.array_equal(np.float32(c["offset"]), np.float32([0.25, -0.5, 0.0]))))
PYEOF
  "$PY" "$SRC/tests/modelfile/keras3_fixture.py" --check-layout "$T/rt_$f.keras" >"$T/layout" ||
    fail "$f: the exported archive is off Keras 3's layout: $(cat "$T/layout")"
  "$PY" -c 'import h5py, sys; d = h5py.File(sys.argv[1])["model_weights/norm/norm/count:0"]; sys.exit(not (d.dtype == "int64" and d.shape == () and d[()] == 1234))' "$T/rt_$f.h5" ||
    fail "$f: the exported .h5 does not keep count as the int64 1234"
  echo "ok: $f P(dog) $got (NumPy $want), both backends, export round trips"
done
