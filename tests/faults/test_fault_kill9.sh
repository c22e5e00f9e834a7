#!/usr/bin/env bash
# test_fault_kill9.sh - 1000 uploads in a row, then kill -9 and a restart
# (issue 6, §3): every acknowledged prediction is in the history and every
# stored photo is complete and matches its sha256.
#
# 1000 distinct photos (one JPEG with a different trailer after its
# end-of-image marker each: decoders stop at the marker, the sha256 differs)
# go up from 4 client threads of one process (web/upload_clients.py, a
# keep-alive connection each: a curl process per upload cost ~40 ms of CPU
# each, most of this test's time).  While the last ones are still in flight
# the server gets SIGKILL: nothing runs after that, so what is on disk is what
# the server had made durable.  After a restart on the same folder and
# database, each upload that was answered 200 must be in the history with its
# id, sha256 and verdict, its photo stored whole; every file in the folder
# must match its name; no temporary file may survive the restart.
. "$(dirname "$0")/../web/lib.sh"
require_tools curl python3 sha256sum

N=${CATDOG_FAULT_UPLOADS:-1000}
make_model "$WORK/models"
BASE_JPG=$(photo jpeg 96 72 1)

start_server --threads 2 --queue 64
# One JSON line per finished upload (status, sha256, answer), written as it
# finishes; the 40 extra uploads keep the clients busy at the kill.
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
python3 "$CATDOG_SOURCE_DIR/tests/web/upload_clients.py" 127.0.0.1 "$PORT" "$BASE_JPG" $((N + 40)) 4 \
    "$RESULTS" --no-pairs >"$WORK/clients.out" 2>&1 &
CLIENTS=$!
# Once N uploads are acknowledged, kill the server with the last ones in
# flight.  Waits on the answers themselves; fails when none comes for 120 s
# (stalled, not slow).
acked() { grep -c '"status": 200' "$RESULTS" || true; }
last=-1 still=0
while :; do
    now=$(acked)
    [ "$now" -ge "$N" ] && break
    kill -0 "$CLIENTS" 2>/dev/null || break
    if [ "$now" = "$last" ]; then still=$((still + 1)); else still=0; last=$now; fi
    [ $still -lt 1200 ] || fail "uploads stalled at $now acknowledged"
    sleep 0.1
done
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
wait "$CLIENTS" || fail "the upload clients failed: $(cat "$WORK/clients.out")"

ACKED=$(acked)
[ "$ACKED" -ge "$N" ] || fail "only $ACKED of the first $N uploads were acknowledged before the kill"
ok "$ACKED uploads acknowledged, then kill -9 with uploads in flight"

start_server --threads 2
# The whole history, page by page.
: >"$WORK/history.jsonl"
OFFSET=0
while :; do
    req GET "/api/v1/history?limit=100&offset=$OFFSET"
    expect_status 200 "history page at $OFFSET"
    python3 -c 'import json,sys; [print(json.dumps(x)) for x in json.load(open(sys.argv[1]))["items"]]' \
        "$WORK/body" >>"$WORK/history.jsonl"
    COUNT=$(json 'len(j["items"])')
    [ "$COUNT" -gt 0 ] || break
    OFFSET=$((OFFSET + COUNT))
done
python3 - "$WORK" <<'PY' || fail "acknowledged uploads missing from the history after the restart"
import hashlib, json, os, sys
work = sys.argv[1]
hist = {}
for line in open(os.path.join(work, "history.jsonl")):
    x = json.loads(line)
    hist[x["id"]] = x
missing, checked = [], 0
for line in open(os.path.join(work, "results.jsonl")):
    r = json.loads(line)
    if r["status"] != 200:
        continue
    a = r["answer"]
    h = hist.get(a["id"])
    checked += 1
    if a["sha256"] != r["sha256"] or h is None or h["sha256"] != r["sha256"] or h["label"] != a["label"] \
            or abs(h["p_dog"] - a["probabilities"]["dog"]) > 2e-6:
        missing.append((r["i"], a.get("id"), h))
if missing:
    print("not in the history as answered:", missing[:5], "...", len(missing), "of", checked)
    sys.exit(1)
print("# all", checked, "acknowledged predictions are in the history")
PY
# Every stored photo is named by the sha256 of its content (one sha256sum for all).
BAD=$(cd "$WORK/up" && find . -maxdepth 1 -type f -name '*.jpg' -printf '%f\0' | xargs -0 -r sha256sum |
    awk '{ n = $2; sub(/\..*/, "", n); if (n != $1) { print "# " $2 " does not match its content" > "/dev/stderr"; bad++ } }
         END { print bad + 0 }')
[ "$BAD" = 0 ] || fail "$BAD stored photos do not match their sha256"
STORED=$(ls "$WORK/up" | grep -c '\.jpg$')
[ "$STORED" -ge "$ACKED" ] || fail "$STORED photos stored for $ACKED acknowledged uploads"
! ls -a "$WORK/up" | grep -q '^\.tmp' || fail "temporary files survived the restart"
req GET /api/v1/history
[ "$(json 'j["total"]')" -ge "$ACKED" ] || fail "the history holds fewer rows than acknowledged uploads"
stop_server
ok "after the restart: all $ACKED acknowledged predictions in the history, $STORED photos whole, no temporaries"
echo "all $N_CHECKS checks passed"
