#!/usr/bin/env bash
# test_http_agrees_with_predict.sh - a served probability is `catdog predict`'s:
# real photos uploaded to POST /api/v1/predict with model=binary and
# model=transfer (the shipped models/binary.h5 and models/transfer.h5 with the
# SqueezeNet weights from ../shared) get the P(dog) that `catdog predict --json`
# prints for the same file and model.  Skips (77) without ../shared.
. "$(dirname "$0")/lib.sh"
require_tools curl python3

W="$SHARED/weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"
[ -d "$SHARED/data/dogs-vs-cats/train" ] || skip "$SHARED/data not found (set CATDOG_SHARED to the shared folder)"
[ -f "$W" ] || fail "$W is missing although $SHARED is present"

# Both sides round to 6 digits (the API to 6 decimals, predict's JSON to 6
# significant digits): up to 5e-7 each, 1e-6 together, on the same float32
# computation (predictor_classify).  Measured over these photos and both
# models: 3.1e-7.  2e-6 leaves 2x over the rounding for oneDNN's last bits
# with another thread count.
TOL=2e-6

mkdir -p "$WORK/models"
ln -s "$CATDOG_SOURCE_DIR/models/binary.h5" "$CATDOG_SOURCE_DIR/models/transfer.h5" "$WORK/models/"
start_server --weights "$W" --threads 2
req GET /api/v1/models
expect_status 200 "models"
json_check '[m["name"] for m in j["models"]] == ["binary", "transfer"]' "both shipped models are served"

PHOTOS=()
for i in 7 2001 4002 6003; do
    PHOTOS+=("$SHARED/data/dogs-vs-cats/train/cat.$i.jpg" "$SHARED/data/dogs-vs-cats/train/dog.$i.jpg")
done
for model in binary transfer; do
    CATDOG_WEIGHTS_DIR="$SHARED/weights" "$CATDOG_BIN" predict --json --model "$WORK/models/$model.h5" "${PHOTOS[@]}" \
        >"$WORK/cli-$model.jsonl" 2>"$WORK/cli.err" || fail "catdog predict ($model) exited non-zero: $(cat "$WORK/cli.err")"
    : >"$WORK/served-$model.tsv"
    for p in "${PHOTOS[@]}"; do
        req POST "/api/v1/predict?model=$model" -F "inputfile=@$p"
        expect_status 200 "$model: $(basename "$p")"
        printf '%s\t%s\n' "$p" "$(cat "$WORK/body")" >>"$WORK/served-$model.tsv"
    done
    # One Python for all photos (each start costs much on a loaded machine).
    msg=$(python3 - "$WORK/cli-$model.jsonl" "$WORK/served-$model.tsv" "$TOL" 2>&1 <<'PY'
import json, sys
cli = {}
for line in open(sys.argv[1]):
    c = json.loads(line)
    assert c["file"] not in cli, "catdog predict answered twice for " + c["file"]
    cli[c["file"]] = c["probabilities"]["dog"]
tol, worst, n = float(sys.argv[3]), 0.0, 0
for line in open(sys.argv[2]):
    path, body = line.rstrip("\n").split("\t", 1)
    served = json.loads(body)["probabilities"]["dog"]
    if path not in cli:
        sys.exit("catdog predict gave no answer for " + path)
    d = abs(served - cli[path])
    if d > tol:
        sys.exit("%s: served P(dog) %.9g, catdog predict %.9g: |diff| %.3g > %.3g"
                 % (path, served, cli[path], d, tol))
    worst, n = max(worst, d), n + 1
print("%d photos served with catdog predict's P(dog) (max |diff| %.3g, tolerance %.3g)" % (n, worst, tol))
PY
) || fail "$model: $msg"
    ok "$model: $msg"
done
stop_server
