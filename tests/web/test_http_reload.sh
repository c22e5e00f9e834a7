#!/usr/bin/env bash
# test_http_reload.sh - SIGHUP reloads the model folder and the admin token
# file (issue 12), against a real server:
#   - uploads keep arriving from 6 clients while the model file is replaced and
#     SIGHUP sent: every one is answered 200 (none dropped), and afterwards the
#     new model answers (another P(dog), its recorded test accuracy);
#   - a broken new file leaves the model that was serving in place, logged;
#   - a new token in the token file replaces the old one.
. "$(dirname "$0")/lib.sh"
require_tools curl python3

TRAINED="$CATDOG_SOURCE_DIR/models/binary.h5"
[ -f "$TRAINED" ] || fail "$TRAINED is missing (it ships with the source)"
make_model "$WORK/models"
CAT=$(photo jpeg 200 200 1)
start_server --threads 2

# wait_log TEXT N: waits (at most 120 s) until the server log has TEXT N times.
wait_log() {
    local i
    for i in $(seq 1 1200); do
        [ "$(grep -c -- "$1" "$WORK/server.err" || true)" -ge "$2" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || fail "the server died waiting for '$1'"
        sleep 0.1
    done
    fail "the log never said '$1' ($2 times)"
}

req POST /api/v1/predict -F "inputfile=@$CAT"
expect_status 200 "an upload before the reload"
P_OLD=$(json 'j["p_dog"]')
req GET /api/v1/models
json_check 'j["models"][0]["test_accuracy"] is None' "the random model records no accuracy"

# Clients uploading without pause; each writes one status a line.  They stop
# when $WORK/stop appears, after the reload is logged.
python3 - "$BASE" "$CAT" "$WORK/statuses" "$WORK/stop" <<'PY' &
import os, sys, threading, urllib.request, uuid
base, photo, out, stop = sys.argv[1:]
data = open(photo, "rb").read()
lock = threading.Lock()
def client():
    while not os.path.exists(stop):
        req = urllib.request.Request(base + "/api/v1/predict", data=data, headers={"Content-Type": "image/jpeg"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except Exception as e:
            status = "error:" + type(e).__name__
        with lock, open(out, "a") as f:
            f.write(f"{status}\n")
threads = [threading.Thread(target=client) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
PY
CLIENTS=$!
for _ in $(seq 1 600); do [ -s "$WORK/statuses" ] && break; sleep 0.1; done
[ -s "$WORK/statuses" ] || fail "the clients never got an answer"
cp "$TRAINED" "$WORK/models/binary.h5.part" && mv "$WORK/models/binary.h5.part" "$WORK/models/binary.h5"
kill -HUP "$SERVER_PID"
wait_log "reloaded $WORK/models: 1 model(s) binary" 1
BEFORE=$(wc -l <"$WORK/statuses")
for _ in $(seq 1 600); do [ "$(wc -l <"$WORK/statuses")" -ge $((BEFORE + 12)) ] && break; sleep 0.1; done
touch "$WORK/stop"
wait "$CLIENTS" || fail "the upload clients failed"
N=$(wc -l <"$WORK/statuses")
BAD=$(grep -vc '^200$' "$WORK/statuses" || true)
[ "$BAD" = 0 ] || fail "$BAD of $N uploads around the reload were not answered 200: $(sort "$WORK/statuses" | uniq -c | tr '\n' ' ')"
[ "$N" -ge $((BEFORE + 12)) ] || fail "too few uploads after the reload ($N, $BEFORE before it)"
ok "SIGHUP with uploads in flight: all $N answered 200 ($BEFORE before the reload was logged)"

req POST /api/v1/predict -F "inputfile=@$CAT"
P_NEW=$(json 'j["p_dog"]')
[ "$P_NEW" != "$P_OLD" ] || fail "the same P(dog) after the reload ($P_NEW): the old model still answers"
req GET /api/v1/models
json_check 'j["models"][0]["test_accuracy"] is not None' "the reloaded model's recorded accuracy"
ok "after SIGHUP the new model answers (P(dog) $P_OLD -> $P_NEW)"

printf 'not a model\n' >"$WORK/models/binary.h5"
kill -HUP "$SERVER_PID"
wait_log "reload refused" 1
grep "reload refused" "$WORK/server.err" | grep -q "binary.h5" || fail "the refusal does not name the file"
req POST /api/v1/predict -F "inputfile=@$CAT"
expect_status 200 "an upload after a refused reload"
[ "$(json 'j["p_dog"]')" = "$P_NEW" ] || fail "a broken file replaced the model that was serving"
ok "a broken new file leaves the serving model in place, logged: $(grep -m1 -o 'reload refused.*' "$WORK/server.err" | head -c 160)"

cp "$TRAINED" "$WORK/models/binary.h5"
OLD_TOKEN=$ADMIN_TOKEN
NEW_TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$NEW_TOKEN" >"$WORK/admin.token"
kill -HUP "$SERVER_PID"
wait_log "reloaded $WORK/models" 2
AS_VISITOR=1 req GET /api/v1/history -H "Authorization: Bearer $OLD_TOKEN"
expect_status 401 "the old token after the reload"
AS_VISITOR=1 req GET /api/v1/history -H "Authorization: Bearer $NEW_TOKEN"
expect_status 200 "the new token after the reload"
printf 'short\n' >"$WORK/admin.token"
kill -HUP "$SERVER_PID"
wait_log "reload refused" 2
AS_VISITOR=1 req GET /api/v1/history -H "Authorization: Bearer $NEW_TOKEN"
expect_status 200 "a too-short new token leaves the old one in place"
! grep -qF -e "$OLD_TOKEN" -e "$NEW_TOKEN" "$WORK/server.err" || fail "a token appears in the log"
ok "SIGHUP reloads the admin token file; a bad one leaves the old token"
stop_server
