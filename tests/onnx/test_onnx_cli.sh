#!/usr/bin/env bash
# test_onnx_cli.sh - ONNX files on the command line: `catdog export --out x.onnx`
# (and its usage errors: unknown extension, bad --opset), then the exported file
# taken by predict, evaluate and info (same verdicts and P(dog) as the .h5; the
# preprocessing recorded in metadata_props), a file detected as ONNX by its
# bytes whatever its name, a broken .onnx refused with one line, and the
# export accepted by onnx.checker (full check) with its input/output shapes.
# Skips (77) without ../shared (its photos).
set -euo pipefail
BIN=${CATDOG_BIN:?CATDOG_BIN must point at the catdog binary}
SRC=${CATDOG_SOURCE_DIR:?CATDOG_SOURCE_DIR must point at the source tree}
T=$(mktemp -d /tmp/catdog_onnx_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
usage_rc() { set +e; "$@" >/dev/null 2>"$T/err"; local rc=$?; set -e; echo $rc; }

"$BIN" export --help | grep -q -- "--opset" || fail "export --help does not describe --opset"
[ "$(usage_rc "$BIN" export --model "$SRC/models/binary.h5" --out "$T/x.pb")" = 2 ] ||
  fail "unknown extension: not a usage error"
grep -q "\.onnx" "$T/err" || fail "unknown extension: message does not name .onnx: $(cat "$T/err")"
[ "$(usage_rc "$BIN" export --model "$SRC/models/binary.h5" --out "$T/x.onnx" --opset 7)" = 2 ] ||
  fail "--opset 7 accepted"
[ "$(usage_rc "$BIN" export --model "$SRC/models/binary.h5" --out "$T/x.h5" --opset 13)" = 2 ] ||
  fail "--opset with an .h5 output accepted"

"$BIN" export --model "$SRC/models/binary.h5" --out "$T/binary.onnx" >"$T/out"
grep -q "1212513 parameters" "$T/out" || fail "export output: $(cat "$T/out")"
"$BIN" export --model "$SRC/models/binary.h5" --out "$T/binary17.onnx" --opset 17 >/dev/null

# ONNX's own checker (Debian python3-onnx, installed by scripts/install-deps.sh), with shape inference.
/usr/bin/python3 -c 'import onnx' 2>/dev/null ||
  fail "/usr/bin/python3 cannot import onnx: run scripts/install-deps.sh (python3-onnx)"
/usr/bin/python3 - "$T/binary.onnx" "$T/binary17.onnx" <<'PY' || fail "onnx.checker refuses the export"
import sys, onnx
for p in sys.argv[1:]:
    m = onnx.load(p)
    onnx.checker.check_model(m, full_check=True)
    props = {e.key: e.value for e in m.metadata_props}
    assert props["catdog_preprocess"] == "rescale", props
    dims = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 3, 150, 150], dims
    dims = [d.dim_param or d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
    assert dims == ["N", 1], dims
PY

"$BIN" info "$T/binary.onnx" >"$T/info"
grep -q "Preprocessing: rescale" "$T/info" || fail "info: preprocessing not read from metadata_props"
grep -q "Total params: 1,212,513" "$T/info" || fail "info: parameter count"
grep -q "Input: 150x150x3" "$T/info" || fail "info: input size"

# Photos from ../shared.
SHARED=${CATDOG_SHARED:-$SRC/../shared}
D="$SHARED/data/dogs-vs-cats/train"
[ -d "$D" ] || { echo "SKIP: $D not found (set CATDOG_SHARED to the shared folder)"; exit 77; }
mkdir -p "$T/set/cats" "$T/set/dogs"
for i in 3 4 5 6; do ln -s "$D/cat.$i.jpg" "$T/set/cats/"; ln -s "$D/dog.$i.jpg" "$T/set/dogs/"; done
imgs=("$T"/set/*/*.jpg)
"$BIN" predict --model "$SRC/models/binary.h5" --json "${imgs[@]}" >"$T/h5.json"
for m in binary.onnx binary17.onnx; do
  "$BIN" predict --model "$T/$m" --json "${imgs[@]}" >"$T/onnx.json"
  /usr/bin/python3 - "$T/h5.json" "$T/onnx.json" <<'PY' || fail "predict: $m differs from the .h5"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 8, (len(a), len(b))
for x, y in zip(a, b):
    assert x["file"] == y["file"] and x["label"] == y["label"], (x, y)
    assert abs(x["p_dog"] - y["p_dog"]) <= 1e-5, (x, y)
    assert y["model"] == "onnx", y
PY
done
"$BIN" evaluate --model "$T/binary.onnx" --data "$T/set" --json >"$T/eval.json"
"$BIN" evaluate --model "$SRC/models/binary.h5" --data "$T/set" --json >"$T/eval_h5.json"
/usr/bin/python3 - "$T/eval_h5.json" "$T/eval.json" <<'PY' || fail "evaluate: .onnx and .h5 differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["accuracy"] == b["accuracy"], (a["accuracy"], b["accuracy"])
PY

# Detected by its bytes (ir_version first), not by its name.
cp "$T/binary.onnx" "$T/renamed.model"
"$BIN" info "$T/renamed.model" | grep -q "Architecture: onnx" || fail "ONNX bytes under another name"

# Broken: one line on stderr, exit 1.
head -c 1000 "$T/binary.onnx" >"$T/cut.onnx"
set +e
"$BIN" predict --model "$T/cut.onnx" "${imgs[0]}" >/dev/null 2>"$T/err"; rc=$?
set -e
[ $rc = 1 ] || fail "truncated .onnx: exit $rc"
[ "$(wc -l <"$T/err")" = 1 ] || fail "truncated .onnx: not one line: $(cat "$T/err")"
grep -q "cut.onnx" "$T/err" || fail "truncated .onnx: message does not name the file"
echo "ok"
