#!/usr/bin/env bash
# test_nginx_replicas.sh - three `catdog serve` replicas sharing one upload
# folder behind nginx running the shipped deploy/nginx/catdog.conf (only the
# upstream addresses and the listen port replaced), issue 14:
#   - uploads from 8 parallel clients through nginx; during them one replica is
#     killed with SIGKILL (and later started again) and another is restarted
#     with SIGTERM: the other replicas take the traffic, at most the requests
#     in flight on the killed replica fail;
#   - every acknowledged upload is in exactly one replica's history with its
#     sha256 and verdict; every stored photo is whole (its name is its sha256);
#     no temporary file is left, and none of a live replica was taken from
#     under it by another's start-up (web/store.h);
#   - behind the trusted proxy the replicas log the client nginx reports.
# Each replica keeps its own SQLite history here; test_nginx_replicas_pg.sh
# runs the same set-up with one shared PostgreSQL history, 3,000 uploads.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nginx_lib.sh"
require_tools curl python3 sha256sum xargs nginx

N=${CATDOG_NGINX_UPLOADS:-300}
CLIENTS=8
make_model "$WORK/models"
BASE_JPG=$(photo jpeg 96 72 1)
mkdir -p "$WORK/in" "$WORK/ack" "$WORK/up"
for i in $(seq 1 "$N"); do
    { cat "$BASE_JPG"; printf 'upload %d of %d\n' "$i" "$N"; } >"$WORK/in/$i.jpg"
done

# Ports for the replicas (nginx_lib.sh's free_port).
declare -a RPORT RPID
for k in 1 2 3; do RPORT[$k]=$(free_port); done

# start_replica K: catdog serve on RPORT[K] with the shared folder and its own history.
start_replica() {
    local k=$1 out="$WORK/replica$1.out"
    : >"$out"
    "$CATDOG_BIN" serve --port "${RPORT[$k]}" --models "$WORK/models" --upload-dir "$WORK/up" \
        --db "$WORK/replica$k.db" --threads 1 --trusted-proxy 127.0.0.1 \
        >"$out" 2>>"$WORK/replica$k.err" &
    RPID[$k]=$!
    for _ in $(seq 1 600); do
        grep -q "listening on" "$out" && return 0
        kill -0 "${RPID[$k]}" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 5 "$WORK/replica$k.err" >&2
    fail "replica $k did not start on port ${RPORT[$k]}"
}
stop_all() {
    for k in 1 2 3; do
        [ -n "${RPID[$k]:-}" ] && kill -KILL "${RPID[$k]}" 2>/dev/null || true
    done
    nginx_stop
    wait 2>/dev/null || true
    cleanup
}
trap stop_all EXIT
for k in 1 2 3; do start_replica "$k"; done

nginx_start "${RPORT[1]}" "${RPORT[2]}" "${RPORT[3]}"
ok "nginx -t accepts deploy/nginx/catdog.conf; nginx answers /healthz from a replica"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$NG/metrics")" = 404 ] || fail "/metrics is reachable through nginx"
ok "/metrics is not served through the public entry point"

# upload I: one request through nginx, as if a CDN in front reported the client.
cat >"$WORK/upload.sh" <<'SH'
#!/usr/bin/env bash
i=$1
curl -s --max-time 120 -o "$ACK/$i.json" -w '%{http_code}' -H 'X-Forwarded-For: 203.0.113.7' \
    -F "inputfile=@$IN/$i.jpg;filename=u$i.jpg" "$NG/api/v1/predict" >"$ACK/$i.status.tmp" 2>/dev/null || true
mv "$ACK/$i.status.tmp" "$ACK/$i.status"
SH
chmod +x "$WORK/upload.sh"
export ACK="$WORK/ack" IN="$WORK/in" NG
seq 1 "$N" | xargs -P "$CLIENTS" -n 1 "$WORK/upload.sh" &
LOAD=$!
answered() { ls "$WORK/ack" | grep -c '\.status$' || true; }
# wait_answered K: until K uploads have an answer (or the clients are done).
wait_answered() {
    for _ in $(seq 1 3000); do
        [ "$(answered)" -ge "$1" ] && return 0
        kill -0 "$LOAD" 2>/dev/null || return 0
        sleep 0.1
    done
    fail "uploads stalled at $(answered) answers"
}
wait_answered $((N / 4))
kill -KILL "${RPID[2]}"
wait "${RPID[2]}" 2>/dev/null || true
AT_KILL=$(answered)
wait_answered $((N / 2))
# Replica 3 restarts (a deploy): SIGTERM answers what it holds, then it comes
# back on the same port; its start-up must not remove replica 1's temporaries.
kill -TERM "${RPID[3]}"
rc=0; wait "${RPID[3]}" || rc=$?
[ "$rc" = 0 ] || fail "replica 3 exited with status $rc after SIGTERM"
start_replica 3
wait_answered $((3 * N / 4))
# Replica 2 comes back after its crash: it removes its own dead temporaries only.
start_replica 2
wait "$LOAD" 2>/dev/null || true
[ "$(answered)" = "$N" ] || fail "only $(answered) of $N uploads were answered"

ACKED=0; FAILED=0
for f in "$WORK"/ack/*.status; do
    if [ "$(cat "$f")" = 200 ]; then ACKED=$((ACKED + 1)); else FAILED=$((FAILED + 1)); fi
done
# Only the uploads replica 2 held when it was killed may fail (nginx does not
# send an upload twice); every other one is answered by a live replica.
[ "$FAILED" -le "$CLIENTS" ] || fail "$FAILED uploads failed (at most the $CLIENTS in flight on the killed replica may)"
ok "$ACKED of $N uploads answered 200 through nginx while one replica was killed and another restarted ($FAILED failed; $AT_KILL answered when replica 2 was killed)"

# Stop the replicas (SIGTERM: clean), then read their histories.
for k in 1 2 3; do
    kill -TERM "${RPID[$k]}"; rc=0; wait "${RPID[$k]}" || rc=$?; RPID[$k]=""
    [ "$rc" = 0 ] || fail "replica $k exited with status $rc after SIGTERM"
done
python3 - "$WORK" <<'PY' || fail "acknowledged uploads are not in exactly one history"
import hashlib, json, os, sqlite3, sys
work = sys.argv[1]
rows, per = {}, {}
for k in (1, 2, 3):
    db = sqlite3.connect(os.path.join(work, "replica%d.db" % k))
    cols = [c[1] for c in db.execute("PRAGMA table_info(predictions)")]
    idcol = "id" if "id" in cols else cols[0]
    n = 0
    for r in db.execute("SELECT * FROM predictions"):
        r = dict(zip(cols, r))
        rows.setdefault(str(r[idcol]) + "@" + str(k), r)
        n += 1
    per[k] = n
    db.close()
bysha = {}
for key, r in rows.items():
    bysha.setdefault(r["sha256"], []).append(key)
bad, checked = [], 0
for name in os.listdir(os.path.join(work, "ack")):
    if not name.endswith(".status") or open(os.path.join(work, "ack", name)).read() != "200":
        continue
    i = name[:-len(".status")]
    a = json.load(open(os.path.join(work, "ack", i + ".json")))
    want = hashlib.sha256(open(os.path.join(work, "in", i + ".jpg"), "rb").read()).hexdigest()
    got = bysha.get(want, [])
    checked += 1
    if a["sha256"] != want or len(got) != 1 or rows[got[0]]["label"] != a["label"]:
        bad.append((i, got))
if bad:
    print("not in exactly one history as answered:", bad[:5], len(bad), "of", checked)
    sys.exit(1)
if min(per.values()) == 0:
    print("a replica recorded nothing:", per)
    sys.exit(1)
print("# %d acknowledged uploads, each in exactly one history (rows per replica: %s)" % (checked, per))
PY
ok "every acknowledged upload is in exactly one replica's history; all three took traffic"
python3 - "$WORK/up" <<'PY' || fail "stored photos do not match their sha256"
import hashlib, os, sys
bad = [n for n in os.listdir(sys.argv[1]) if not n.startswith(".") and os.path.isfile(os.path.join(sys.argv[1], n))
       and n.split(".")[0] != hashlib.sha256(open(os.path.join(sys.argv[1], n), "rb").read()).hexdigest()]
if bad:
    print("not matching their sha256:", bad[:5], len(bad))
    sys.exit(1)
PY
! ls -a "$WORK/up" | grep -q '^\.tmp' || fail "temporary files left in the shared folder: $(ls -a "$WORK/up" | grep '^\.tmp' | head -3)"
! grep -h "cannot rename\|cannot create" "$WORK"/replica*.err | grep -q . ||
    fail "a replica lost a write in the shared folder: $(grep -h 'cannot rename\|cannot create' "$WORK"/replica*.err | head -2)"
ok "the shared folder holds whole photos only, no temporaries, no write lost"
grep -q '^.*203\.0\.113\.7 POST /api/v1/predict 200' "$WORK/replica1.err" ||
    fail "replica 1's log does not name the client nginx reported: $(grep 'POST /api/v1/predict' "$WORK/replica1.err" | head -2)"
ok "behind the trusted proxy the log names the client (203.0.113.7)"
echo "all $N_CHECKS checks passed"
