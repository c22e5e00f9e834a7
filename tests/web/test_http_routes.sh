#!/usr/bin/env bash
# test_http_routes.sh - every route of `catdog serve` and every refusal of an
# upload, against a real server on a free port: the seed's pages (/, /template,
# /template/upload, /upload/<file>, /error), the history and its feedback
# buttons, static files, photos and thumbnails, the JSON API, /healthz,
# /metrics, 404/405, languages, security headers, deduplication and the log.
. "$(dirname "$0")/lib.sh"
require_tools curl python3 sha256sum

make_model "$WORK/models"
start_server --max-pixels 50000 --threads 2 --queue 32

CAT=$(photo jpeg 200 200 1)
DOG=$(photo png 200 200 2)
BIG_PIXELS=$(photo jpeg 300 300 3)
printf 'just some text, not a photo\n' >"$WORK/notes.txt"
head -c 1500 "$CAT" >"$WORK/truncated.jpg"
: >"$WORK/empty.jpg"

# ---- pages of the seed ----
req GET /
expect_status 302 "GET /"
header_has '^Location: /template' "GET / redirects"
ok "GET / redirects to /template"

req GET /template
expect_status 200 "GET /template"
body_has '<title>Загрузите ваше фото</title>' "upload page title (Russian by default)"
body_has '<input type="file" name="inputfile"' "upload page file field"
body_has 'action="/template/upload" method="post" enctype="multipart/form-data"' "plain form post"
body_has 'type="submit"' "submit button"
body_has 'name="model" type="radio" value="binary"' "model choice"
body_has 'href="/static/catdog.css"' "own stylesheet under /static"
body_lacks 'http://' "no outside URLs in the page"
body_lacks 'https://' "no outside URLs in the page"
header_has "^Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'" "CSP"
header_has '^X-Content-Type-Options: nosniff' "nosniff"
header_has '^Content-Type: text/html; charset=utf-8' "HTML type"
grep -i '^Content-Security-Policy' "$WORK/headers" | grep -qv 'http' || fail "CSP names an outside source"
ok "GET /template: the upload form, Russian title, CSP"

req GET /template -H 'Accept-Language: en-US,en;q=0.9,ru;q=0.5'
body_has '<title>Upload your photo</title>' "English by Accept-Language"
req GET /template -H 'Accept-Language: en;q=0.3, ru;q=0.8'
body_has '<title>Загрузите ваше фото</title>' "Russian by higher q"
req GET '/template?lang=en'
body_has '<html lang="en">' "English by ?lang=en"
header_has '^Set-Cookie: lang=en' "?lang sets the cookie"
req GET /template -H 'Cookie: lang=en' -H 'Accept-Language: ru'
body_has 'Upload your photo' "the cookie beats Accept-Language"
body_has 'id="lang-switch" href="/template?lang=ru"' "the switch points to the other language"
ok "languages: Accept-Language, ?lang= switch, cookie"

req HEAD /template
expect_status 200 "HEAD /template"
body_lacks "<html" "HEAD answered with a body"
ok "HEAD /template"

req GET /error
expect_status 200 "GET /error"
body_has "Файл не загрузился" "help page in Russian by default"
req GET /error -H 'Accept-Language: en'
body_has "File didn't load" "help page title"
body_has "<a id=\"help-link\" href=\"/template\">Push to load correct 'name'.jpg file</a>" "help link"
ok "GET /error: the help page and its link back"

# ---- static files ----
req GET /static/catdog.css
expect_status 200 "catdog.css"
header_has '^Content-Type: text/css' "css type"
req GET /static/catdog.js
expect_status 200 "catdog.js"
header_has '^Content-Type: text/javascript' "js type"
if [ -d "$CATDOG_SOURCE_DIR/node_modules/materialize-css/dist" ]; then
    req GET /static/materialize/css/materialize.min.css
    expect_status 200 "MaterializeCSS from npm"
    cmp -s "$WORK/body" "$CATDOG_SOURCE_DIR/node_modules/materialize-css/dist/css/materialize.min.css" ||
        fail "materialize.min.css differs from node_modules"
    req GET /template
    body_has 'href="/static/materialize/css/materialize.min.css"' "the page links MaterializeCSS"
    ok "MaterializeCSS served from node_modules under /static"
else
    fail "node_modules/materialize-css absent (run scripts/install-deps.sh, or npm install in $CATDOG_SOURCE_DIR)"
fi
for bad in '/static/../CMakeLists.txt' '/static/..%2F..%2FCMakeLists.txt' '/static/.hidden' '/static/' \
    '/static/materialize/../../package.json' '/static/a//b'; do
    req GET "$bad" --path-as-is
    [ "$STATUS" = 404 ] || fail "GET $bad: expected 404, got $STATUS"
done
req GET /favicon.ico
expect_status 301 "favicon"
ok "static files: types, traversal refused"

# ---- the form upload ----
req POST /template/upload -F "inputfile=@$CAT;filename=my cat.jpg" -H 'Accept-Language: en'
expect_status 200 "form upload"
CAT_SHA=$(sha256_of "$CAT")
grep -Eq 'src="/result/[0-9a-f]{32}/photo"' "$WORK/body" || fail "the result page shows no photo by its result id"
body_lacks "$CAT_SHA" "the result page does not name the stored file"
grep -Eq 'The (Cat|Dog) is at the picture' "$WORK/body" || fail "no verdict on the result page"
grep -Eq 'class="probability">[0-9]+\.[0-9]%<' "$WORK/body" || fail "no probability on the result page"
body_has 'class="bar-fill pw-' "probability bar"
body_has 'class="model-name">binary<' "model on the result page"
body_has 'class="elapsed">' "time taken"
body_has 'href="/template">Upload another photo</a>' "link back"
body_has 'my cat.jpg' "the original name is shown"
[ -f "$WORK/up/$CAT_SHA.jpg" ] || fail "the photo is not stored as <sha256>.jpg"
cmp -s "$CAT" "$WORK/up/$CAT_SHA.jpg" || fail "the stored photo differs from the upload"
ok "POST /template/upload: verdict page; photo stored as <sha256>.jpg"

req POST /template/upload -F "inputfile=@$CAT" -F model=both -H 'Accept-Language: ru'
expect_status 200 "form upload, model=both with only binary loaded"
grep -Eq 'На картинке (кошка|собака)' "$WORK/body" || fail "no Russian verdict"
[ "$(ls "$WORK/up" | grep -c "^$CAT_SHA")" = 1 ] || fail "the same photo is stored twice"
ok "the same photo twice is stored once; Russian verdict"

req GET "/photos/$CAT_SHA.jpg"
expect_status 200 "GET /photos"
header_has '^Content-Type: image/jpeg' "photo type"
cmp -s "$WORK/body" "$CAT" || fail "GET /photos returned other bytes"
req GET "/thumbs/$CAT_SHA.jpg"
expect_status 200 "GET /thumbs"
header_has '^Content-Type: image/jpeg' "thumbnail type"
[ "$(stat -c %s "$WORK/body")" -gt 100 ] || fail "thumbnail is empty"
req GET "/photos/../catdog.db" --path-as-is
expect_status 404 "photo traversal"
req GET "/photos/nothere.jpg"
expect_status 404 "missing photo"
ok "photos and thumbnails"

# ---- form refusals: the help page with the reason and the right status ----
form_refusal 400 no_file -F model=binary
form_refusal 400 no_file -F "inputfile=;filename=" # a file input left empty
form_refusal 400 no_file -F "photo=@$CAT"
form_refusal 400 empty_file -F "inputfile=@$WORK/empty.jpg"
form_refusal 415 not_an_image -F "inputfile=@$WORK/notes.txt;filename=cat.jpg"
form_refusal 422 corrupt_image -F "inputfile=@$WORK/truncated.jpg"
form_refusal 400 too_many_files -F "inputfile=@$CAT" -F "inputfile=@$DOG"
form_refusal 400 too_many_files -F "inputfile=@$CAT" -F "other=@$DOG"
form_refusal 413 too_many_pixels -F "inputfile=@$BIG_PIXELS"
form_refusal 400 unknown_model -F "inputfile=@$CAT" -F model=resnet
form_refusal 400 no_file --data-binary "@$CAT" -H 'Content-Type: image/jpeg'
ok "form refusals: no file, empty, not an image, corrupt, two files, pixels, bad model"

# ---- the JSON API ----
req POST /api/v1/predict -F "inputfile=@$CAT"
expect_status 200 "API multipart"
header_has '^Content-Type: application/json' "JSON type"
json_check 'j["label"] in ("cat","dog")' "label"
json_check '0.5 <= j["confidence"] <= 1 and 0 <= j["p_dog"] <= 1 and "probability" not in j' "confidence, p_dog"
json_check 'abs(j["probabilities"]["cat"] + j["probabilities"]["dog"] - 1) < 1e-5' "probabilities sum to 1"
json_check 'j["probabilities"][j["label"]] == j["confidence"] and j["probabilities"]["dog"] == j["p_dog"]' "confidence is the label's, p_dog is P(dog)"
json_check '(j["label"] == "dog") == (j["p_dog"] >= 0.5)' "label follows p_dog"
json_check 'j["model"] == "binary"' "model"
json_check "j['sha256'] == '$CAT_SHA'" "sha256"
json_check 'j["elapsed_ms"] > 0' "elapsed_ms"
json_check 'j["width"] == 200 and j["height"] == 200' "size"
ok "POST /api/v1/predict (multipart): label, p_dog, confidence, probabilities, model, sha256, elapsed_ms"

DOG_SHA=$(sha256_of "$DOG")
req POST '/api/v1/predict?model=binary&filename=dog.png' --data-binary "@$DOG" -H 'Content-Type: image/png'
expect_status 200 "API raw PNG"
json_check "j['sha256'] == '$DOG_SHA' and j['format'] == 'png'" "raw PNG"
[ -f "$WORK/up/$DOG_SHA.png" ] || fail "raw upload not stored as .png"
req POST /api/v1/predict --data-binary "@$CAT" -H 'Content-Type: image/webp'
expect_status 200 "API raw body typed webp but holding a JPEG: judged by content"
ok "POST /api/v1/predict (raw image/png, content decides)"

api_refusal 400 no_file -F model=binary
api_refusal 400 no_file
api_refusal 400 no_file -F "file=@$CAT"
api_refusal 400 empty_file -F "inputfile=@$WORK/empty.jpg"
api_refusal 400 empty_file --data-binary "@$WORK/empty.jpg" -H 'Content-Type: image/jpeg'
api_refusal 415 not_an_image -F "inputfile=@$WORK/notes.txt"
api_refusal 415 not_an_image --data-binary "@$WORK/notes.txt" -H 'Content-Type: image/jpeg'
api_refusal 415 unsupported_media_type --data-binary "@$CAT" -H 'Content-Type: text/plain'
api_refusal 422 corrupt_image -F "inputfile=@$WORK/truncated.jpg"
api_refusal 400 too_many_files -F "inputfile=@$CAT" -F "other=@$DOG"
api_refusal 413 too_many_pixels -F "inputfile=@$BIG_PIXELS"
api_refusal 400 unknown_model -F "inputfile=@$CAT" -F model=resnet
req POST '/api/v1/predict?model=both' -F "inputfile=@$CAT"
expect_status 400 "the API has no model=both"
api_refusal 404 model_not_loaded -F "inputfile=@$CAT" -F model=transfer
api_refusal 400 bad_request --data-binary 'garbage' -H 'Content-Type: multipart/form-data'
api_refusal 400 bad_request --data-binary $'--xyz\r\nContent-Disposition: form-data; name="inputfile"; filename="a.jpg"\r\n\r\nabc' \
    -H 'Content-Type: multipart/form-data; boundary=xyz'
ok "API refusals: JSON errors with the right status for every case"

req GET /api/v1/models
expect_status 200 "models"
json_check 'j["models"][0]["name"] == "binary" and j["models"][0]["parameters"] == 1212513' "binary model listed"
json_check 'j["models"][0]["input_size"] == [150, 150] and j["models"][0]["preprocessing"] == "rescale"' "input"
json_check 'j["models"][0]["architecture"] == "binary" and j["models"][0]["default"] is True' "architecture"
json_check 'j["unavailable"][0]["name"] == "transfer" and "transfer.h5" in j["unavailable"][0]["reason"]' "why transfer is off"
ok "GET /api/v1/models"

req GET /healthz
expect_status 200 "healthz"
json_check 'j["status"] == "ok" and j["models"] == 1' "healthz"
ok "GET /healthz"

# ---- GET /upload/<file>: classify a photo already in the folder ----
req GET "/upload/$CAT_SHA.jpg" -H 'Accept-Language: en'
expect_status 200 "GET /upload/<file>"
grep -Eq 'The (Cat|Dog) is at the picture' "$WORK/body" || fail "no verdict for /upload/<file>"
cp "$CAT" "$WORK/up/kitty.jpg"
req GET /upload/kitty.jpg
expect_status 200 "GET /upload/<file> of a file put there by hand"
for bad in '/upload/../catdog.db' '/upload/..%2Fcatdog.db' '/upload/.hidden' '/upload/thumbs' \
    '/upload/%2Fetc%2Fpasswd' '/upload/nothere.jpg'; do
    req GET "$bad" --path-as-is -H 'Accept-Language: en'
    [ "$STATUS" = 404 ] || fail "GET $bad: expected 404, got $STATUS"
    body_has "File didn't load" "GET $bad shows the help page"
done
ok "GET /upload/<file>; traversal and missing names refused"

# ---- history and feedback ----
req GET /api/v1/history?limit=100
expect_status 200 "history API"
TOTAL=$(json 'j["total"]')
[ "$TOTAL" -ge 7 ] || fail "expected at least 7 predictions in the history, found $TOTAL"
json_check 'all(i["model"] == "binary" and i["label"] in ("cat","dog") and 0 <= i["p_dog"] <= 1 for i in j["items"])' "rows"
json_check 'all(abs(i["confidence"] - (i["p_dog"] if i["label"] == "dog" else 1 - i["p_dog"])) < 1e-6 for i in j["items"])' "confidence"
json_check "any(i['name'] == 'my cat.jpg' and i['sha256'] == '$CAT_SHA' and i['size'] == $(stat -c %s "$CAT") and i['width'] == 200 for i in j['items'])" "original name, size, sha"
FIRST_ID=$(json 'j["items"][-1]["id"]')
req GET /history -H 'Accept-Language: en'
expect_status 200 "GET /history"
body_has "/thumbs/$CAT_SHA.jpg" "thumbnails"
body_has 'my cat.jpg' "names"
body_has "action=\"/history/$FIRST_ID/feedback\"" "feedback buttons"
body_has 'Actually a dog' "feedback button text"
ok "GET /history and /api/v1/history"

req POST "/history/$FIRST_ID/feedback" -d label=dog -d page=1
expect_status 303 "feedback"
header_has "^Location: /history?page=1#r$FIRST_ID" "feedback redirects back"
req GET "/api/v1/history?limit=1&offset=$((TOTAL - 1))"
json_check "j['items'][0]['id'] == $FIRST_ID and j['items'][0]['feedback'] == 'dog'" "feedback stored"
req POST "/history/$FIRST_ID/feedback" -d label=horse
expect_status 400 "bad feedback label"
req POST /history/999999/feedback -d label=cat
expect_status 404 "feedback for a missing row"
req POST "/history/$FIRST_ID/feedback" -d label=cat -H 'Origin: http://evil.example'
expect_status 403 "feedback from another site"
req POST "/history/$FIRST_ID/feedback" -d label=cat -H "Origin: $BASE"
expect_status 303 "feedback from our own page"
ok "feedback buttons: stored, validated, same-origin only"

# ---- 404, 405 ----
req GET /nope
expect_status 404 "unknown path"
json_check 'j["error"]["code"] == "not_found"' "404 JSON"
req GET /nope -H 'Accept: text/html'
expect_status 404 "unknown page"
body_has '<html' "404 page for browsers"
req DELETE /template
expect_status 405 "DELETE /template"
header_has '^Allow: GET, HEAD' "Allow header"
req GET /api/v1/predict
expect_status 405 "GET /api/v1/predict"
json_check 'j["error"]["code"] == "method_not_allowed"' "405 JSON"
ok "404 and 405"

# ---- metrics (after everything above) ----
req GET /metrics
expect_status 200 "metrics"
header_has '^Content-Type: text/plain; version=0.0.4' "Prometheus type"
body_has 'catdog_http_requests_total{route="/api/v1/predict",status="200"}' "requests by route and status"
body_has 'catdog_http_requests_total{route="/api/v1/predict",status="415"}' "refusals counted"
body_has 'catdog_http_requests_total{route="/template/upload",status="413"}' "413 counted"
body_has 'catdog_http_request_duration_seconds_bucket{route="/template/upload",le="+Inf"}' "latency histogram"
grep -Eq '^catdog_predictions_total\{model="binary",label="(cat|dog)"\} [1-9]' "$WORK/body" || fail "predictions by label"
body_has 'catdog_prediction_duration_seconds_count{model="binary"}' "prediction latency"
grep -Eq '^catdog_http_received_bytes_total [1-9][0-9]*$' "$WORK/body" || fail "bytes received"
body_has 'catdog_queue_depth 0' "queue depth"
body_has 'catdog_uploads_rejected_total{reason="not_an_image"}' "refusals by reason"
body_has 'catdog_events_total{event="deduplicated"}' "dedup counted"
ok "GET /metrics"

# ---- nothing half-written, one log line per request ----
! ls -a "$WORK/up" | grep -q '^\.tmp-' || fail "temporary files left in the upload folder"
for f in "$WORK"/up/*.jpg "$WORK"/up/*.png; do
    case $(basename "$f") in kitty.jpg) continue ;; esac
    [ "$(sha256_of "$f")" = "$(basename "${f%.*}")" ] || fail "$f does not match its sha256 name"
done
grep -Eq '127\.0\.0\.1 POST /template/upload 200 [0-9]+ [0-9]+ [0-9.]+ms' "$WORK/server.err" || fail "no log line"
grep -Eq '127\.0\.0\.1 POST /api/v1/predict 415 ' "$WORK/server.err" || fail "no log line for a refusal"
ok "stored photos are whole and match their names; one log line per request"

stop_server
grep -q 'SIGTERM received' "$WORK/server.err" || fail "no shutdown message"
echo "all $N_CHECKS checks passed"
