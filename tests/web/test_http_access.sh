#!/usr/bin/env bash
# test_http_access.sh - who may see what (issue 12), against real servers:
#   - without a token configured the admin routes are off (403), not open;
#   - with one, every admin route and file refuses a visitor and a wrong token
#     (401), even for a stored photo's guessed /photos/<sha256>.jpg and
#     /thumbs/...; Bearer and the login cookie are let in; the cookie is
#     HttpOnly and SameSite=Strict; a cookie-authorised form without the CSRF
#     token is refused (403), with it accepted; the token never reaches the log;
#   - a visitor's result is reachable by its random id only, and the answers a
#     visitor gets never name the stored file;
#   - --metrics-listen serves /metrics and /healthz there, and the public port
#     no longer has /metrics;
#   - --no-store leaves no file, but records the rows (result page, history,
#     feedback and export-feedback cope with a row without a photo);
#   - --retention-days deletes rows (and their photos) older than N days, at
#     start-up (a row is aged through Python's sqlite3, from outside the server:
#     the server has no hook for it).
. "$(dirname "$0")/lib.sh"

# sql DB STATEMENT: runs one statement, prints the first column of each row.
sql() {
    python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for row in c.execute(sys.argv[2]): print(row[0])
c.commit()' "$1" "$2"
}
require_tools curl python3 sha256sum

make_model "$WORK/models"
CAT=$(photo jpeg 200 200 1)
DOG=$(photo png 200 200 2)
CAT_SHA=$(sha256_of "$CAT")

ADMIN_ROUTES=(/history /api/v1/history /metrics "/photos/$CAT_SHA.jpg" "/thumbs/$CAT_SHA.jpg"
    "/upload/$CAT_SHA.jpg")

# ---- no token configured: the admin pages are off ----
"$CATDOG_BIN" serve --port 0 --models "$WORK/models" --upload-dir "$WORK/up0" --db "$WORK/off.db" \
    --admin-token-file /dev/null >"$WORK/empty.out" 2>"$WORK/empty.err" && fail "a server started with an empty token file"
grep -q "must be 16" "$WORK/empty.err" || fail "an empty token file is refused without saying why: $(cat "$WORK/empty.err")"
env -u CATDOG_ADMIN_TOKEN "$CATDOG_BIN" serve --port 0 --models "$WORK/models" --upload-dir "$WORK/up0" \
    --db "$WORK/off.db" ${BACKEND_ARGS[@]+"${BACKEND_ARGS[@]}"} >"$WORK/off.out" 2>"$WORK/off.err" &
SERVER_PID=$!
for _ in $(seq 1 600); do
    grep -q "listening on" "$WORK/off.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the server without a token did not start: $(cat "$WORK/off.err")"
    sleep 0.1
done
PORT=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$WORK/off.out" | head -n 1)
BASE="http://127.0.0.1:$PORT"
grep -q "no admin token" "$WORK/off.err" || fail "start-up does not say the admin pages are off"
AS_VISITOR=1 req POST /api/v1/predict -F "inputfile=@$CAT"
expect_status 200 "a visitor classifies without a token configured"
for path in "${ADMIN_ROUTES[@]}"; do
    req GET "$path" -H 'Accept-Language: en'
    expect_status 403 "GET $path with no token configured"
done
req POST /history/1/feedback -d label=cat
expect_status 403 "feedback with no token configured"
req GET /api/v1/history
json_check 'j["error"]["code"] == "admin_off" and "--admin-token-file" in j["error"]["message"]' "the refusal says how"
stop_server
ok "no token configured: every admin route is off (403, saying how to turn it on)"

# ---- a token from the environment ----
CATDOG_ADMIN_TOKEN=short "$CATDOG_BIN" serve --port 0 --models "$WORK/models" --upload-dir "$WORK/up0" \
    --db "$WORK/off.db" >"$WORK/short.out" 2>"$WORK/short.err" && fail "a 5-byte token was accepted"
grep -q "must be 16" "$WORK/short.err" || fail "a short token is refused without saying why: $(cat "$WORK/short.err")"
ok "a token shorter than 16 bytes is refused at start-up"

# ---- with a token ----
rm -rf "$WORK/up"
start_server --metrics-listen 127.0.0.1:0
MPORT=$(sed -n 's|.*metrics on .*(port \([0-9]*\)).*|\1|p' "$WORK/server.out")
[ -n "$MPORT" ] || fail "no metrics port in: $(cat "$WORK/server.out")"

AS_VISITOR=1 req POST /template/upload -F "inputfile=@$CAT;filename=mine.jpg" -H 'Accept-Language: en'
expect_status 200 "a visitor's upload"
RID=$(grep -o 'href="/result/[0-9a-f]*"' "$WORK/body" | head -n 1 | sed 's|.*/result/||; s|"||')
[ ${#RID} = 32 ] || fail "the result page gives no 32-hex-digit result id: $(grep -o 'result[^ ]*' "$WORK/body" | head -3)"
body_lacks "$CAT_SHA" "the result page names the stored file"
body_lacks "/photos/" "the result page links the admin's photo address"
AS_VISITOR=1 req POST /api/v1/predict -F "inputfile=@$DOG"
expect_status 200 "a visitor's API upload"
json_check 'len(j["result_id"]) == 32 and j["result_id"] != "'"$RID"'"' "the API gives a new random result id"
RID2=$(json 'j["result_id"]')
ok "visitors classify and get an unguessable result id ($RID)"

AS_VISITOR=1 req GET "/result/$RID" -H 'Accept-Language: en'
expect_status 200 "the visitor's result page by id"
body_has 'mine.jpg' "the result page by id shows the name"
grep -Eq 'The (Cat|Dog) is at the picture' "$WORK/body" || fail "no verdict on the result page by id"
AS_VISITOR=1 req GET "/result/$RID/photo"
expect_status 200 "the visitor's photo by id"
cmp -s "$WORK/body" "$CAT" || fail "/result/<id>/photo returned other bytes"
header_has '^Cache-Control: private' "the photo is not for shared caches"
OTHER=$(printf '%s' "$RID" | tr '0-9a-f' '1-9a-f0')
for path in "/result/$OTHER" "/result/$OTHER/photo" "/result/$CAT_SHA" "/result/${RID}x" "/result/$RID/../x"; do
    AS_VISITOR=1 req GET "$path" --path-as-is
    expect_status 404 "GET $path"
done
ok "a result is reachable by its id only (another id, the sha256, junk: 404)"

for path in "${ADMIN_ROUTES[@]}"; do
    [ "$path" != /metrics ] || continue # not on this public port (below, and the server without --metrics-listen)
    AS_VISITOR=1 req GET "$path" -H 'Accept-Language: en'
    expect_status 401 "a visitor's GET $path"
    AS_VISITOR=1 req GET "$path" -H 'Authorization: Bearer not-the-token-at-all-0123456789'
    expect_status 401 "GET $path with a wrong token"
    AS_VISITOR=1 req GET "$path" -H "Authorization: Bearer ${ADMIN_TOKEN}x"
    expect_status 401 "GET $path with the token and one more byte"
done
AS_VISITOR=1 req POST /history/1/feedback -d label=cat
expect_status 401 "a visitor's feedback"
AS_VISITOR=1 req GET /api/v1/history
json_check 'j["error"]["code"] == "unauthorized"' "401 names its reason"
ok "every admin route refuses a visitor and a wrong token (401), guessed photo and thumbnail addresses too"

for path in /history /api/v1/history "/photos/$CAT_SHA.jpg" "/thumbs/$CAT_SHA.jpg" "/upload/$CAT_SHA.jpg"; do
    req GET "$path"
    expect_status 200 "GET $path with the token"
done
req GET /api/v1/history
json_check "any(i['name'] == 'mine.jpg' for i in j['items'])" "the admin sees the visitor's row"
req GET /metrics
expect_status 404 "/metrics on the public port with --metrics-listen"
ok "Bearer token: the admin routes answer 200"

# ---- the login form and its cookie ----
AS_VISITOR=1 req GET /login -H 'Accept-Language: en'
expect_status 200 "the login form"
body_has 'type="password" name="token"' "a password field"
AS_VISITOR=1 req POST /login --data-urlencode "token=wrong-token-wrong-token"
expect_status 401 "login with a wrong token"
grep -qi '^Set-Cookie: catdog_admin' "$WORK/headers" && fail "a wrong token got a cookie"
AS_VISITOR=1 req POST /login --data-urlencode "token=$ADMIN_TOKEN" -H 'Origin: http://evil.example'
expect_status 403 "a login form posted from another site"
AS_VISITOR=1 req POST /login --data-urlencode "token=$ADMIN_TOKEN"
expect_status 303 "login"
COOKIE_LINE=$(grep -i '^Set-Cookie: catdog_admin=' "$WORK/headers" | tr -d '\r')
[ -n "$COOKIE_LINE" ] || fail "login set no cookie: $(cat "$WORK/headers")"
grep -q 'HttpOnly' <<<"$COOKIE_LINE" || fail "the cookie is not HttpOnly: $COOKIE_LINE"
grep -q 'SameSite=Strict' <<<"$COOKIE_LINE" || fail "the cookie is not SameSite=Strict: $COOKIE_LINE"
grep -q "$ADMIN_TOKEN" <<<"$COOKIE_LINE" && fail "the cookie holds the token itself"
COOKIE=$(sed 's/^Set-Cookie: \([^;]*\);.*/\1/I' <<<"$COOKIE_LINE")
AS_VISITOR=1 req GET /history -H "Cookie: $COOKIE" -H 'Accept-Language: en'
expect_status 200 "/history with the login cookie"
CSRF=$(grep -o 'name="csrf" value="[0-9a-f]*"' "$WORK/body" | head -n 1 | sed 's/.*value="//; s/"//')
[ ${#CSRF} = 64 ] || fail "the history's forms carry no CSRF token"
ID=$(grep -o 'action="/history/[0-9]*/feedback"' "$WORK/body" | head -n 1 | tr -dc 0-9)
AS_VISITOR=1 req GET /history -H "Cookie: catdog_admin=${COOKIE#catdog_admin=}0"
expect_status 401 "a forged cookie"
ok "login: wrong token refused, cookie HttpOnly + SameSite=Strict, not the token, lets the admin in"

AS_VISITOR=1 req POST "/history/$ID/feedback" -H "Cookie: $COOKIE" -d label=dog
expect_status 403 "cookie feedback without the CSRF token"
AS_VISITOR=1 req POST "/history/$ID/feedback" -H "Cookie: $COOKIE" -d label=dog -d csrf=00"${CSRF:2}"
expect_status 403 "cookie feedback with a wrong CSRF token"
AS_VISITOR=1 req POST "/history/$ID/feedback" -H "Cookie: $COOKIE" -d label=dog -d "csrf=$CSRF"
expect_status 303 "cookie feedback with the CSRF token"
AS_VISITOR=1 req POST /logout -H "Cookie: $COOKIE"
expect_status 403 "logout without the CSRF token"
AS_VISITOR=1 req POST /logout -H "Cookie: $COOKIE" -d "csrf=$CSRF"
expect_status 303 "logout"
header_has '^Set-Cookie: catdog_admin=;.*Max-Age=0' "logout clears the cookie"
ok "CSRF: a cookie-authorised form without the token (or with a wrong one) is refused (403)"

# ---- metrics on the internal address ----
STATUS=$(curl -s -o "$WORK/body" -w '%{http_code}' "http://127.0.0.1:$MPORT/metrics")
expect_status 200 "/metrics on --metrics-listen"
body_has 'catdog_http_requests_total' "metrics on the internal address"
body_has 'catdog_uploads_rejected_total{reason="unauthorized"}' "refusals counted"
STATUS=$(curl -s -o "$WORK/body" -w '%{http_code}' "http://127.0.0.1:$MPORT/healthz")
expect_status 200 "/healthz on --metrics-listen"
for path in /template /history /api/v1/history "/result/$RID"; do
    STATUS=$(curl -s -o "$WORK/body" -w '%{http_code}' "http://127.0.0.1:$MPORT$path")
    expect_status 404 "$path on the metrics address"
done
ok "--metrics-listen serves /metrics and /healthz and nothing else; the public port has no /metrics"

! grep -qF "$ADMIN_TOKEN" "$WORK/server.err" "$WORK/server.out" || fail "the token appears in the log"
ok "the token never appears in the log"
stop_server

# ---- --no-store: no file, but the verdicts are recorded ----
rm -rf "$WORK/up" "$WORK/catdog.db"* "$WORK/nostore-export"
start_server --no-store
AS_VISITOR=1 req POST /api/v1/predict -F "inputfile=@$CAT"
expect_status 200 "a verdict with --no-store"
json_check 'j["label"] in ("cat", "dog") and len(j["result_id"]) == 32 and isinstance(j["id"], int)' \
    "a result id and a row id with --no-store"
AS_VISITOR=1 req POST /template/upload -F "inputfile=@$DOG;filename=nokeep.png" -H 'Accept-Language: en'
expect_status 200 "the form with --no-store"
body_has 'The photo was not kept' "the page says the photo was not kept"
RID=$(grep -o 'href="/result/[0-9a-f]*"' "$WORK/body" | head -n 1 | sed 's|.*/result/||; s|"||')
[ ${#RID} = 32 ] || fail "no result id on the --no-store result page"
body_lacks "/result/$RID/photo" "a photo address with --no-store"
AS_VISITOR=1 req GET "/result/$RID" -H 'Accept-Language: en'
expect_status 200 "the result page of a --no-store result"
body_has 'The photo was not kept' "the result page says the photo was not kept"
body_has 'nokeep.png' "the result page names the photo as sent"
body_lacks '<img' "an image on the result page without a photo"
AS_VISITOR=1 req GET "/result/$RID/photo"
expect_status 404 "the photo of a --no-store result"
json_check '"--no-store" in j["error"]["message"]' "the 404 says why there is no photo"
req GET /api/v1/history
expect_status 200 "the history with --no-store"
json_check 'len(j["items"]) == 2 and all(i["file"] == "" for i in j["items"]) and
    any(i["name"] == "nokeep.png" for i in j["items"]) and
    any(i["sha256"] == "'"$CAT_SHA"'" for i in j["items"])' "the rows are recorded, naming no file"
req GET /history -H 'Accept-Language: en'
expect_status 200 "the history page with --no-store"
body_has 'no-photo' "a placeholder for the missing photo"
body_lacks '/thumbs/' "a thumbnail link without a photo"
ID=$(grep -o 'action="/history/[0-9]*/feedback"' "$WORK/body" | head -n 1 | tr -dc 0-9)
[ -n "$ID" ] || fail "no feedback form on the --no-store history page"
req POST "/history/$ID/feedback" -d label=dog
expect_status 303 "feedback on a --no-store row"
req GET /api/v1/history
json_check 'any(i["feedback"] == "dog" for i in j["items"])' "the feedback is recorded"
[ -z "$(find "$WORK/up" -type f)" ] || fail "--no-store left files: $(find "$WORK/up" -type f)"
[ "$(sql "$WORK/catdog.db" 'SELECT COUNT(*) FROM predictions')" = 2 ] || fail "--no-store recorded no rows"
stop_server
"$CATDOG_BIN" export-feedback --db "$WORK/catdog.db" --out "$WORK/nostore-export" \
    >"$WORK/export.out" 2>"$WORK/export.err" || fail "export-feedback failed on --no-store rows: $(cat "$WORK/export.err")"
grep -q 'no photo was kept' "$WORK/export.err" || fail "export-feedback does not say why a row was skipped"
grep -q '1 without a photo' "$WORK/export.out" || fail "export-feedback does not count rows without a photo"
ok "--no-store: verdicts recorded (rows, result page, feedback, export), and no file left"

# ---- --retention-days: old rows and their photos go at start-up ----
rm -rf "$WORK/up" "$WORK/catdog.db"*
start_server
AS_VISITOR=1 req GET /metrics
expect_status 401 "a visitor's /metrics without --metrics-listen"
req GET /metrics
expect_status 200 "the admin's /metrics without --metrics-listen"
req POST /api/v1/predict -F "inputfile=@$CAT"
OLD_RID=$(json 'j["result_id"]')
req POST /api/v1/predict -F "inputfile=@$DOG"
NEW_RID=$(json 'j["result_id"]')
req GET "/thumbs/$CAT_SHA.jpg"
expect_status 200 "a thumbnail to be removed"
stop_server
DOG_SHA=$(sha256_of "$DOG")
# Age the cat's row by 10 days, from outside (the server has no hook for it).
sql "$WORK/catdog.db" "UPDATE predictions SET time = time - 10*86400 WHERE result = '$OLD_RID'"
start_server --retention-days 7
grep -q "retention: removed 1 row" "$WORK/server.err" || fail "start-up does not report the retention sweep"
[ ! -e "$WORK/up/$CAT_SHA.jpg" ] || fail "the old photo is still there"
[ ! -e "$WORK/up/thumbs/$CAT_SHA.jpg.jpg" ] || fail "the old photo's thumbnail is still there"
[ -e "$WORK/up/$DOG_SHA.png" ] || fail "the recent photo was removed"
[ "$(sql "$WORK/catdog.db" 'SELECT COUNT(*) FROM predictions')" = 1 ] || fail "expected one row left"
AS_VISITOR=1 req GET "/result/$OLD_RID"
expect_status 404 "an expired result"
AS_VISITOR=1 req GET "/result/$NEW_RID"
expect_status 200 "a recent result"
stop_server
ok "/metrics on the public port needs the token when there is no --metrics-listen"
ok "--retention-days: the old row, photo and thumbnail removed at start-up; the recent ones kept"
