#!/usr/bin/env bash
# test_http_precision_fallback.sh - a CPU without the kernels of a reduced
# precision (issue 16: "CPUs without VNNI/BF16 ... say clearly that this CPU
# cannot, and serve falls back to float32 with a logged line").
# ONEDNN_MAX_CPU_ISA=AVX2 makes oneDNN dispatch as on an AVX2-only CPU, which
# has no bf16 convolutions, whatever this machine has:
#   - `catdog predict --precision bf16` fails, naming the precision and the fix;
#   - `catdog serve --precision bf16` starts, logs one line saying it serves in
#     float32 and why, and answers uploads with float32's P(dog) (within 1e-5);
#   - without the cap, serve logs that line only where predict cannot run bf16
#     either (so the line is the truth about this CPU, not a constant).
# A random-weights model and generated photos: needs nothing from ../shared.
. "$(dirname "$0")/lib.sh"
require_tools curl python3

make_model "$WORK/models"
P1=$(photo jpeg 200 160 3)
P2=$(photo png 120 150 9)

"$CATDOG_BIN" predict --json --precision f32 --model "$WORK/models/binary.h5" "$P1" "$P2" \
    >"$WORK/f32.jsonl" 2>"$WORK/cli.err" || fail "predict --precision f32: $(cat "$WORK/cli.err")"

if ONEDNN_MAX_CPU_ISA=AVX2 "$CATDOG_BIN" predict --precision bf16 --model "$WORK/models/binary.h5" "$P1" \
    >/dev/null 2>"$WORK/cli.err"; then
    fail "predict --precision bf16 ran on an AVX2-capped oneDNN (no bf16 kernels there)"
fi
grep -q "precision bf16" "$WORK/cli.err" && grep -q -- "--precision f32" "$WORK/cli.err" ||
    fail "predict's error does not name the precision and the way out: $(cat "$WORK/cli.err")"
ok "predict --precision bf16 on an AVX2-capped oneDNN fails naming bf16 and --precision f32"

# serve_p_dogs OUT: POSTs both photos, one "p_dog" per line into OUT.
serve_p_dogs() {
    : >"$1"
    for p in "$P1" "$P2"; do
        req POST "/api/v1/predict?model=binary" -F "inputfile=@$p"
        expect_status 200 "$(basename "$p")"
        json 'j["p_dog"]' >>"$1"
    done
}

: >"$WORK/server.err"
ONEDNN_MAX_CPU_ISA=AVX2 start_server --precision bf16 --threads 2
grep -q "no bf16 convolution for AVX2 instructions: serving in float32" "$WORK/server.err" ||
    fail "serve did not log its fall-back to float32: $(cat "$WORK/server.err")"
grep -q "model binary (binary, .*, f32)" "$WORK/server.err" ||
    fail "the model's start-up line does not say f32: $(grep 'model binary' "$WORK/server.err")"
serve_p_dogs "$WORK/served.txt"
stop_server
python3 - "$WORK/f32.jsonl" "$WORK/served.txt" <<'PY' || fail "the fall-back's answers are not float32's"
import json, sys
want = [json.loads(l)["p_dog"] for l in open(sys.argv[1]) if l.strip()]
got = [float(l) for l in open(sys.argv[2]) if l.strip()]
assert len(want) == len(got) == 2, (want, got)
for w, g in zip(want, got):
    assert abs(w - g) <= 1e-5, (w, g)
PY
ok "serve --precision bf16 on an AVX2-capped oneDNN logs the fall-back and answers with float32's P(dog)"

# Uncapped: the line appears exactly when this CPU cannot run bf16.
if "$CATDOG_BIN" predict --precision bf16 --model "$WORK/models/binary.h5" "$P1" >/dev/null 2>&1; then
    cpu_bf16=1
else
    cpu_bf16=0
fi
: >"$WORK/server.err"
start_server --precision bf16 --threads 2
if grep -q "serving in float32" "$WORK/server.err"; then logged=1; else logged=0; fi
stop_server
[ $((1 - cpu_bf16)) -eq "$logged" ] ||
    fail "bf16 kernels on this CPU: $cpu_bf16, but the fall-back line logged: $logged"
ok "uncapped, the fall-back line matches what this CPU can run (bf16 kernels: $cpu_bf16)"
echo "PASS: $N_CHECKS checks"
