#!/usr/bin/env bash
# test_http_api.sh - the API of issue 12 against a real server: one meaning per
# name (label, p_dog, confidence), raw image/* and application/octet-stream
# bodies, several photos in one form (in order, each its own verdict or error,
# at most --max-batch-photos), the OpenAPI document at /api/v1/openapi.json
# (the checked-in docs/openapi.json, valid by @apidevtools/swagger-parser), and
# TF Serving's REST API, whose predictions a TF-Serving-style client gets equal
# to /api/v1/predict's.
. "$(dirname "$0")/lib.sh"
require_tools curl python3 base64 cmp
PY3=/usr/bin/python3 # Debian's, as a user's client would be (python3 on PATH may be another)
[ -x "$PY3" ] || skip "/usr/bin/python3 is not installed"

make_model "$WORK/models"
start_server --max-batch-photos 3 --threads 2 --queue 32

CAT=$(photo jpeg 200 200 11)
DOG=$(photo png 180 220 12)
THIRD=$(photo jpeg 160 120 13)
printf 'just some text, not a photo\n' >"$WORK/notes.txt"

# ---- one photo, every way of sending it: the same p_dog ----
req POST /api/v1/predict -F "inputfile=@$CAT"
expect_status 200 "multipart"
json_check '"probability" not in j and j["label"] in ("cat", "dog")' "no ambiguous 'probability'"
json_check 'abs(j["confidence"] - (j["p_dog"] if j["label"] == "dog" else 1 - j["p_dog"])) < 1e-9' "confidence = P(label)"
json_check '(j["label"] == "dog") == (j["p_dog"] >= 0.5) and j["probabilities"]["dog"] == j["p_dog"]' "p_dog = P(dog)"
CAT_P=$(json 'j["p_dog"]')
for ct in application/octet-stream image/jpeg image/x-anything 'image/png; charset=binary'; do
    req POST '/api/v1/predict?filename=raw.jpg' --data-binary "@$CAT" -H "Content-Type: $ct"
    expect_status 200 "raw body typed $ct"
    json_check "j['p_dog'] == $CAT_P and j['name'] == 'raw.jpg' and j['format'] == 'jpeg'" "raw $ct: same verdict"
done
api_refusal 415 unsupported_media_type --data-binary "@$CAT" -H 'Content-Type: text/plain'
api_refusal 415 unsupported_media_type --data-binary "@$CAT" -H 'Content-Type: image/'
api_refusal 415 not_an_image --data-binary "@$WORK/notes.txt" -H 'Content-Type: application/octet-stream'
ok "one photo: multipart, application/octet-stream and any image/* body give the same p_dog"

# The history and the CLI use the same names with the same meaning.
req GET '/api/v1/history?limit=1'
json_check "j['items'][0]['p_dog'] == $CAT_P and 'probability' not in j['items'][0]" "history p_dog"
json_check 'abs(j["items"][0]["confidence"] - (j["items"][0]["p_dog"] if j["items"][0]["label"] == "dog" else 1 - j["items"][0]["p_dog"])) < 1e-9' "history confidence"
"$CATDOG_BIN" predict --json --model "$WORK/models/binary.h5" "$CAT" >"$WORK/cli.json" 2>"$WORK/cli.err" ||
    fail "catdog predict: $(cat "$WORK/cli.err")"
json_check "abs(j['p_dog'] - $CAT_P) < 1e-6 and 'probability' not in j and abs(j['confidence'] - (j['p_dog'] if j['label'] == 'dog' else 1 - j['p_dog'])) < 1e-9" \
    "CLI p_dog and confidence" "$WORK/cli.json"
ok "history and catdog predict --json: the same p_dog and confidence"

# ---- several photos in one form ----
req POST /api/v1/predict -F "inputfile=@$DOG;filename=b.png" -F "inputfile=@$CAT;filename=a.jpg" \
    -F "inputfile=@$WORK/notes.txt;filename=c.txt"
expect_status 200 "batch of 3"
json_check 'len(j["results"]) == 3' "three results"
json_check '[r["name"] for r in j["results"]] == ["b.png", "a.jpg", "c.txt"]' "in the order sent"
json_check "j['results'][1]['p_dog'] == $CAT_P and j['results'][0]['format'] == 'png'" "each photo its own verdict"
json_check 'j["results"][2]["status"] == 415 and j["results"][2]["error"]["code"] == "not_an_image"' "a bad photo is its own error"
json_check 'j["results"][0]["id"] != j["results"][1]["id"]' "each recorded"
api_refusal 400 too_many_files -F "inputfile=@$CAT" -F "inputfile=@$DOG" -F "inputfile=@$THIRD" -F "inputfile=@$CAT"
json_check '"--max-batch-photos" in j["error"]["message"]' "the refusal names the option"
ok "several photos in one form: a list in order, at most --max-batch-photos"

# ---- the OpenAPI document ----
req GET /api/v1/openapi.json
expect_status 200 "openapi.json"
header_has '^Content-Type: application/json' "JSON"
cmp -s "$WORK/body" "$CATDOG_SOURCE_DIR/docs/openapi.json" || fail "the served document is not docs/openapi.json"
json_check 'j["openapi"].startswith("3.") and "/v1/models/{name}:predict" in j["paths"]' "OpenAPI 3"
ok "GET /api/v1/openapi.json serves docs/openapi.json"
if command -v node >/dev/null 2>&1 && [ -d "$CATDOG_SOURCE_DIR/node_modules/@apidevtools/swagger-parser" ]; then
    (cd "$CATDOG_SOURCE_DIR" && node tests/web/validate_openapi.mjs "$WORK/body") >"$WORK/validate.out" 2>&1 ||
        fail "swagger-parser: $(cat "$WORK/validate.out")"
    ok "swagger-parser: $(cat "$WORK/validate.out")"
else
    echo "# not validated: node or @apidevtools/swagger-parser missing (make deps installs them)"
    VALIDATOR_MISSING=1
fi

# ---- TF Serving's REST API ----
req GET /v1/models/binary
expect_status 200 "TF status"
json_check 'j["model_version_status"][0]["state"] == "AVAILABLE"' "AVAILABLE"
req GET /v1/models/binary/metadata
expect_status 200 "TF metadata"
json_check 'j["model_spec"]["name"] == "binary" and "image_bytes" in j["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]' "signature"
req GET /v1/models/resnet
expect_status 404 "TF unknown model"
json_check '"Servable not found" in j["error"]' "TF error shape"
req GET /v1/models/binary/versions
expect_status 404 "TF unknown resource"
req GET /v1/models/binary:predict
expect_status 405 "TF GET :predict"
ok "GET /v1/models/{name} and /metadata; unknown model 404"

for p in "$CAT" "$DOG" "$THIRD"; do
    req POST /api/v1/predict -F "inputfile=@$p"
    expect_status 200 "reference prediction"
    json 'j["p_dog"]'
done >"$WORK/api.txt"
"$PY3" "$CATDOG_SOURCE_DIR/tests/web/tf_client.py" "$BASE" binary row "$CAT" "$DOG" "$THIRD" >"$WORK/tf_row.txt" 2>"$WORK/tf.err" ||
    fail "TF client (instances): $(cat "$WORK/tf.err")"
"$PY3" "$CATDOG_SOURCE_DIR/tests/web/tf_client.py" "$BASE" binary columnar "$CAT" "$DOG" "$THIRD" >"$WORK/tf_col.txt" 2>"$WORK/tf.err" ||
    fail "TF client (inputs): $(cat "$WORK/tf.err")"
"$PY3" - "$WORK/api.txt" "$WORK/tf_row.txt" "$WORK/tf_col.txt" <<'PYEOF' || fail "TF predictions differ from /api/v1/predict's"
import sys
api, row, col = ([float(x) for x in open(f)] for f in sys.argv[1:4])
print("# /api/v1/predict:", api, " :predict instances:", row, " inputs:", col)
assert len(api) == 3 and api == row == col
PYEOF
ok "a TF-Serving-style client (instances and inputs) gets /api/v1/predict's p_dog for each photo"

tf() { req POST /v1/models/binary:predict -H 'Content-Type: application/json' --data-binary "$1"; }
B64=$(base64 -w0 "$CAT")
tf "{\"instances\": [{\"image_bytes\": {\"b64\": \"$B64\"}}]}"
expect_status 200 "named input"
json_check "j == {'predictions': [[$CAT_P]]}" "named input answer"
tf "{\"instances\": {\"b64\": \"$B64\"}}"
expect_status 200 "single instance"
tf 'not json'
expect_status 400 "TF not JSON"
json_check 'isinstance(j["error"], str)' "TF error is a string"
tf '{"something": 1}'
expect_status 400 "TF no instances"
tf '{"instances": [1.0, 2.0]}'
expect_status 400 "TF instances that are not images"
tf '{"instances": [{"b64": "!!!not base64!!!"}]}'
expect_status 400 "TF bad base64"
tf "{\"instances\": [{\"b64\": \"$(base64 -w0 "$WORK/notes.txt")\"}]}"
expect_status 415 "TF not an image"
tf "{\"instances\": [{\"b64\": \"$B64\"}, {\"b64\": \"$B64\"}, {\"b64\": \"$B64\"}, {\"b64\": \"$B64\"}]}"
expect_status 400 "TF too many instances"
json_check '"--max-batch-photos" in j["error"]' "names the option"
req POST /v1/models/resnet:predict -H 'Content-Type: application/json' --data-binary "{\"instances\": [{\"b64\": \"$B64\"}]}"
expect_status 404 "TF predict with an unknown model"
ok "TF :predict: named input, single instance; refusals 400/404/415 with TF's error shape"

stop_server
echo "all $N_CHECKS checks passed"
[ -z "${VALIDATOR_MISSING:-}" ] || skip "the OpenAPI document was not validated (install node and npm install)"
