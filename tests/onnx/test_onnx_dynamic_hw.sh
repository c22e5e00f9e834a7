#!/usr/bin/env bash
# test_onnx_dynamic_hw.sh - an ONNX graph whose input height and width are
# symbolic (torch.onnx.export with dynamic_axes on H and W) runs at the size
# --img-size gives: without it, info / predict / export refuse it with one
# line naming --img-size; with --img-size 64 predict gives exactly the P(dog)
# of the same net exported at a fixed 64x64, info reports 64x64, a second
# size gives other values (the option is used), and export writes a fixed
# 64x64 graph; `catdog serve --img-size 64` serves it (as models/transfer.onnx)
# with the P(dog) predict gives, and without the option lists it as
# unavailable, naming --img-size.  Images are generated (no ../shared
# needed); Debian's python3-torch missing is a failure (scripts/install-deps.sh).
set -euo pipefail
BIN=${CATDOG_BIN:?CATDOG_BIN must point at the catdog binary}
SRC=${CATDOG_SOURCE_DIR:?CATDOG_SOURCE_DIR must point at the source tree}
T=$(mktemp -d /tmp/catdog_onnx_dynhw.XXXXXX)
PID=""
trap '[ -z "$PID" ] || kill -KILL "$PID" 2>/dev/null || true; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

/usr/bin/python3 "$SRC/tests/onnx/make_torch_dynamic_hw.py" "$T" >"$T/py.log" 2>&1 ||
  fail "the PyTorch export failed (needs Debian's python3-torch, python3-pil): $(tail -3 "$T/py.log")"
/usr/bin/python3 - "$T/dyn.onnx" <<'PY' || fail "dyn.onnx: H and W are not symbolic"
import sys, onnx
d = onnx.load(sys.argv[1]).graph.input[0].type.tensor_type.shape.dim
assert [x.dim_param for x in d] == ["N", "", "H", "W"], d
PY
imgs=("$T"/img/*.png)

# Without --img-size: one line naming the option, for every command.
for cmd in "info $T/dyn.onnx" "predict --model $T/dyn.onnx ${imgs[0]}" \
           "export --model $T/dyn.onnx --out $T/x.onnx"; do
  set +e
  # shellcheck disable=SC2086
  "$BIN" $cmd >/dev/null 2>"$T/err"
  rc=$?
  set -e
  [ $rc -ne 0 ] || fail "catdog $cmd: accepted a dynamic H/W without --img-size"
  [ "$(wc -l <"$T/err")" = 1 ] || fail "catdog $cmd: not one line: $(cat "$T/err")"
  grep -q -- "--img-size" "$T/err" || fail "catdog $cmd: the error does not name --img-size: $(cat "$T/err")"
done

"$BIN" info "$T/dyn.onnx" --img-size 64 >"$T/info"
grep -q "Input: 64x64x3" "$T/info" || fail "info --img-size 64: $(grep Input "$T/info")"

"$BIN" predict --model "$T/dyn.onnx" --img-size 64 --json "${imgs[@]}" >"$T/dyn64.json"
"$BIN" predict --model "$T/fixed64.onnx" --json "${imgs[@]}" >"$T/fixed64.json"
"$BIN" predict --model "$T/dyn.onnx" --img-size 96 --json "${imgs[@]}" >"$T/dyn96.json"
"$BIN" export --model "$T/dyn.onnx" --img-size 64 --out "$T/re64.onnx" >/dev/null
"$BIN" predict --model "$T/re64.onnx" --json "${imgs[@]}" >"$T/re64.json"
/usr/bin/python3 - "$T" <<'PY' || fail "dynamic H/W predictions differ"
import json, sys, onnx
t = sys.argv[1]
rd = lambda n: [json.loads(l) for l in open("%s/%s.json" % (t, n))]
dyn, fixed, d96, re = rd("dyn64"), rd("fixed64"), rd("dyn96"), rd("re64")
assert len(dyn) == len(fixed) == len(d96) == len(re) == 4
ps = [x["p_dog"] for x in dyn]
assert max(ps) - min(ps) > 1e-3, ps          # outputs that vary with the image
for a, b, c in zip(dyn, fixed, re):
    assert a["p_dog"] == b["p_dog"], (a, b)  # same graph, same size: same numbers
    assert abs(a["p_dog"] - c["p_dog"]) <= 1e-5, (a, c)
assert max(abs(a["p_dog"] - b["p_dog"]) for a, b in zip(dyn, d96)) > 1e-4, "--img-size 96 ignored"
d = onnx.load(t + "/re64.onnx").graph.input[0].type.tensor_type.shape.dim
assert [x.dim_param or x.dim_value for x in d] == ["N", 3, 64, 64], d
print("dynamic H/W at 64 = fixed 64:", ps)
PY
# serve: the file as models/transfer.onnx, with and without --img-size.
command -v curl >/dev/null || fail "curl is not installed (scripts/install-deps.sh)"
mkdir -p "$T/models"
cp "$T/dyn.onnx" "$T/models/transfer.onnx"   # a models/<name>.onnx without <name>.h5
serve() {  # serve [options]: starts the server, sets PID and BASE
  : >"$T/srv.out"
  "$BIN" serve --port 0 --models "$T/models" --upload-dir "$T/up" --db "$T/c.db" "$@" \
    >"$T/srv.out" 2>"$T/srv.err" &
  PID=$!
  for _ in $(seq 1 600); do
    grep -q "listening on" "$T/srv.out" && break
    kill -0 "$PID" 2>/dev/null || fail "serve did not start: $(tail -3 "$T/srv.err")"
    sleep 0.1
  done
  BASE="http://127.0.0.1:$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$T/srv.out" | head -n 1)"
}
stop() { kill -TERM "$PID"; wait "$PID" || true; PID=""; }
serve
curl -s "$BASE/api/v1/models" >"$T/models.json"
stop
grep -q -- "--img-size" "$T/models.json" || fail "serve without --img-size: transfer.onnx not refused naming the option: $(cat "$T/models.json")"
serve --img-size 64
curl -s -F "inputfile=@${imgs[0]}" -F model=transfer "$BASE/api/v1/predict" >"$T/served.json"
stop
/usr/bin/python3 - "$T/served.json" "$T/dyn64.json" <<'PY' || fail "serve --img-size 64: $(cat "$T/served.json")"
import json, sys
a = json.load(open(sys.argv[1]))
b = json.loads(open(sys.argv[2]).readline())
assert a["model"] == "transfer", a
assert abs(a["p_dog"] - b["p_dog"]) <= 1e-6, (a["p_dog"], b["p_dog"])
PY
echo "PASS"
