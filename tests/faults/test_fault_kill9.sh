#!/usr/bin/env bash
# test_fault_kill9.sh - 1000 uploads in a row, then kill -9 and a restart
# (issue 6, §3): every acknowledged prediction is in the history and every
# stored photo is complete and matches its sha256.
#
# 1000 distinct photos (one JPEG with a different trailer after its
# end-of-image marker each: decoders stop at the marker, the sha256 differs)
# go up through 4 parallel clients.  While the last ones are still in flight
# the server gets SIGKILL: nothing runs after that, so what is on disk is what
# the server had made durable.  After a restart on the same folder and
# database, each upload that was answered 200 must be in the history with its
# id, sha256 and verdict, its photo stored whole; every file in the folder
# must match its name; no temporary file may survive the restart.
. "$(dirname "$0")/../web/lib.sh"
require_tools curl python3 sha256sum xargs

N=${CATDOG_FAULT_UPLOADS:-1000}
make_model "$WORK/models"
BASE_JPG=$(photo jpeg 96 72 1)
mkdir -p "$WORK/in" "$WORK/ack"
for i in $(seq 1 "$N"); do
    { cat "$BASE_JPG"; printf 'upload %d of %d\n' "$i" "$N"; } >"$WORK/in/$i.jpg"
done

start_server --threads 2 --queue 64
# upload I: one request; its status and answer are kept as ack/I.status, ack/I.json.
cat >"$WORK/upload.sh" <<'EOF'
#!/usr/bin/env bash
i=$1
curl -s --max-time 60 -o "$ACK/$i.json" -w '%{http_code}' -F "inputfile=@$IN/$i.jpg;filename=u$i.jpg" \
    "$BASE/api/v1/predict" >"$ACK/$i.status.tmp" 2>/dev/null || true
mv "$ACK/$i.status.tmp" "$ACK/$i.status"
EOF
chmod +x "$WORK/upload.sh"
export ACK="$WORK/ack" IN="$WORK/in" BASE
seq 1 $((N + 40)) | xargs -P 4 -n 1 "$WORK/upload.sh" &
CLIENTS=$!
# Once N uploads have an answer, kill the server with the last ones in flight
# (the 40 extra keep the clients busy).  Bounded: 10 minutes.
for _ in $(seq 1 1200); do
    [ "$(ls "$WORK/ack" | grep -c '\.status$')" -ge "$N" ] && break
    kill -0 "$CLIENTS" 2>/dev/null || break
    sleep 0.5
done
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
wait "$CLIENTS" 2>/dev/null || true

ACKED=0
for f in "$WORK"/ack/*.status; do
    [ "$(cat "$f")" = 200 ] && ACKED=$((ACKED + 1))
done
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
for name in os.listdir(os.path.join(work, "ack")):
    if not name.endswith(".status") or open(os.path.join(work, "ack", name)).read() != "200":
        continue
    i = name[:-len(".status")]
    a = json.load(open(os.path.join(work, "ack", i + ".json")))
    want = hashlib.sha256(open(os.path.join(work, "in", i + ".jpg"), "rb").read()).hexdigest()
    h = hist.get(a["id"])
    checked += 1
    if a["sha256"] != want or h is None or h["sha256"] != want or h["label"] != a["label"] \
            or abs(h["p_dog"] - a["probabilities"]["dog"]) > 2e-6:
        missing.append((i, a.get("id"), h))
if missing:
    print("not in the history as answered:", missing[:5], "...", len(missing), "of", checked)
    sys.exit(1)
print("# all", checked, "acknowledged predictions are in the history")
PY
BAD=0
for f in "$WORK"/up/*; do
    [ -f "$f" ] || continue
    n=$(basename "$f")
    [ "${n%%.*}" = "$(sha256_of "$f")" ] || { echo "# $n does not match its content" >&2; BAD=$((BAD + 1)); }
done
[ "$BAD" = 0 ] || fail "$BAD stored photos do not match their sha256"
STORED=$(ls "$WORK/up" | grep -c '\.jpg$')
[ "$STORED" -ge "$ACKED" ] || fail "$STORED photos stored for $ACKED acknowledged uploads"
! ls -a "$WORK/up" | grep -q '^\.tmp' || fail "temporary files survived the restart"
req GET /api/v1/history
[ "$(json 'j["total"]')" -ge "$ACKED" ] || fail "the history holds fewer rows than acknowledged uploads"
stop_server
ok "after the restart: all $ACKED acknowledged predictions in the history, $STORED photos whole, no temporaries"
echo "all $N_CHECKS checks passed"
