#!/usr/bin/env bash
# test_nginx_replicas_pg.sh - issue 14's check: three `catdog serve` replicas
# sharing one PostgreSQL history and one photo folder behind nginx running the
# shipped deploy/nginx/catdog.conf (nginx_lib.sh), PostgreSQL 15 started in a
# temporary folder (pg_lib.sh).
#
# Load: 3,000 uploads (CATDOG_NGINX_PG_UPLOADS) through nginx from 16 clients
# on keep-alive connections (upload_clients.py).  Every photo is distinct
# except 72 pairs: two clients send the same photo at the same moment (a
# barrier), which nginx's round-robin gives to two replicas, both storing it.
# Replicas 1..3 start together (the schema migration under the advisory lock).
# After 1/4 of the answers replica 2 is killed with SIGKILL; after 1/2,
# replica 3 is stopped with SIGTERM (it must exit 0) and started again on the
# same port; after 3/4 replica 2 is started again on its port.
#
# What is asserted afterwards, and why:
#   - every upload got an answer; the failed ones (not 200) are counted and
#     printed, and each is a 502 or 503 from replica 2 or 3: the uploads
#     replica 2 held when it was killed (502), and on replica 3's stop those
#     nginx had just written on a keep-alive connection it was closing (502)
#     or that it refused while stopping (503 "stopping").  nginx does not
#     resend an upload a replica may have received (catdog.conf), so these
#     reach the client.  Replica 1, up throughout, fails none.  How many fail
#     depends on what was in flight at those moments, so no count is asserted;
#   - every upload answered 200 is in PostgreSQL exactly once: one row with
#     its result_id, and that row has the answer's id, label (the verdict) and
#     sha256, its photo's sha256 and its name; no two rows share a name (the
#     test names each upload), so nothing is recorded twice;
#   - a failed upload is absent from the database, except when nginx had sent
#     it to the replica that was killed: a replica that recorded the row and
#     died before its answer left leaves a row nobody was told about.  That is
#     the one case of "in the database, not acknowledged" we accept (the
#     client saw an error and may upload again, which makes a second, distinct
#     row); the test prints how many there were.  An upload failed on the
#     SIGTERM'd replica must not be there: a clean stop answers what it took;
#   - the database holds nothing else: rows = acknowledged + those accepted;
#   - each shared photo's two rows name one stored file, and at least one pair
#     went to two different replicas (nginx's round-robin sends two requests
#     arriving together to two servers), so the shared-folder write race ran;
#   - every file in the folder is whole (its name is its sha256), every row's
#     file is there, no temporary is left (replica 2's, cut by the kill, are
#     removed by the next replica start on this host, web/store.h), and no
#     replica logged a lost write;
#   - /api/v1/history, read page by page (limit 100) from each replica
#     directly with the admin token, is the same list on all three, and lists
#     exactly the database's rows, newest first;
#   - behind the trusted proxy the replicas log the client nginx reports.
# Nothing here depends on timing: the kills and restarts happen at answer
# counts, and nothing asserts how fast anything went.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"
. "$(dirname "$0")/nginx_lib.sh"
require_tools curl python3 nginx

N=${CATDOG_NGINX_PG_UPLOADS:-3000}
CLIENTS=16
make_model "$WORK/models"
BASE_JPG=$(photo jpeg 96 72 1)
pg_start_server

declare -a RPORT RPID
for k in 1 2 3; do RPORT[$k]=$(free_port); done
LOAD=""
replicas_exit_trap() {
    local rc=$?
    [ -n "$LOAD" ] && kill -KILL "$LOAD" 2>/dev/null || true
    for k in 1 2 3; do
        [ -n "${RPID[$k]:-}" ] && kill -KILL "${RPID[$k]}" 2>/dev/null || true
    done
    nginx_stop
    wait 2>/dev/null || true
    pg_cleanup
    cleanup
    exit $rc
}
trap replicas_exit_trap EXIT

# launch_replica K: catdog serve on RPORT[K] with the shared database and folder.
launch_replica() {
    local k=$1
    : >"$WORK/replica$k.out"
    "$CATDOG_BIN" serve --port "${RPORT[$k]}" --models "$WORK/models" --upload-dir "$WORK/up" \
        --db "$PG_URL" --admin-token-file "$WORK/admin.token" --threads 1 --trusted-proxy 127.0.0.1 \
        >"$WORK/replica$k.out" 2>>"$WORK/replica$k.err" &
    RPID[$k]=$!
}
# await_replica K: until replica K says it listens.
await_replica() {
    local k=$1
    for _ in $(seq 1 600); do
        grep -q "listening on" "$WORK/replica$k.out" && return 0
        kill -0 "${RPID[$k]}" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 5 "$WORK/replica$k.err" >&2
    fail "replica $k did not start on port ${RPORT[$k]}"
}
# stop_replica K: SIGTERM, which must end in status 0 (a clean stop).
stop_replica() {
    local k=$1 rc=0
    kill -TERM "${RPID[$k]}"
    wait "${RPID[$k]}" || rc=$?
    RPID[$k]=""
    [ "$rc" = 0 ] || fail "replica $k exited with status $rc after SIGTERM"
}
for k in 1 2 3; do launch_replica "$k"; done
for k in 1 2 3; do await_replica "$k"; done
[ "$(pg_sql 'SELECT count(*) FROM catdog_schema')" = 1 ] || fail "the schema version table does not hold one row"
ok "three replicas started together on one PostgreSQL database (one schema version)"

nginx_start "${RPORT[1]}" "${RPORT[2]}" "${RPORT[3]}"
ok "nginx -t accepts deploy/nginx/catdog.conf; nginx answers /healthz from a replica"

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
python3 "$CATDOG_SOURCE_DIR/tests/web/upload_clients.py" 127.0.0.1 "$NGPORT" "$BASE_JPG" "$N" "$CLIENTS" \
    "$RESULTS" >"$WORK/clients.out" 2>&1 &
LOAD=$!
answered() { wc -l <"$RESULTS"; }
# wait_answered K: until K uploads have an answer (or the clients are done);
# fails when no upload is answered for 120 s (stalled, not slow).
wait_answered() {
    local last=-1 still=0 now
    while :; do
        now=$(answered)
        [ "$now" -ge "$1" ] && return 0
        kill -0 "$LOAD" 2>/dev/null || return 0
        if [ "$now" = "$last" ]; then still=$((still + 1)); else still=0; last=$now; fi
        [ $still -lt 1200 ] || fail "uploads stalled at $now answers"
        sleep 0.1
    done
}
wait_answered $((N / 4))
kill -KILL "${RPID[2]}"
wait "${RPID[2]}" 2>/dev/null || true
RPID[2]=""
AT_KILL=$(answered)
wait_answered $((N / 2))
stop_replica 3
launch_replica 3
await_replica 3
AT_RESTART=$(answered)
wait_answered $((3 * N / 4))
launch_replica 2
await_replica 2
rc=0
wait "$LOAD" || rc=$?
LOAD=""
[ "$rc" = 0 ] || fail "the upload clients failed (status $rc): $(tail -n 5 "$WORK/clients.out")"
echo "$(cat "$WORK/clients.out"); replica 2 killed after $AT_KILL answers, replica 3 back after $AT_RESTART"

# The database as it is now (nothing writes any more).
pg_sql "SELECT id, result, sha256, label, name, file FROM predictions ORDER BY id" >"$WORK/db.txt" ||
    fail "cannot read the predictions table"
python3 - "$WORK" "$N" "${RPORT[2]}" "${RPORT[3]}" <<'PY' || fail "the uploads and the database disagree (above)"
import collections, json, os, sys
work, n, killed, restarted = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
res = [json.loads(l) for l in open(os.path.join(work, "results.jsonl"))]
problems = []
def bad(msg):
    problems.append(msg)
if sorted(r["i"] for r in res) != list(range(n)):
    print("not every upload has exactly one answer line: %d lines for %d uploads" % (len(res), n))
    sys.exit(1)
rows, by_result, by_name = [], {}, collections.defaultdict(list)
for line in open(os.path.join(work, "db.txt")):
    rid, result, sha, label, name, file = line.rstrip("\n").split("|")
    row = {"id": int(rid), "result": result, "sha256": sha, "label": label, "name": name, "file": file}
    rows.append(row)
    if result in by_result:
        bad("result %s is in the database twice" % result)
    by_result[result] = row
    by_name[name].append(row)
# The replica each upload went to, last of the ones nginx tried.
upstream = {}
for line in open(os.path.join(work, "nginx", "logs", "access.log")):
    f = line.split(" ", 2)
    if len(f) == 3 and f[0].isdigit():
        upstream[int(f[0])] = f[2].strip().split(", ")[-1]
acked = failed = lost_answers = 0
fail_where = collections.Counter()
for r in res:
    i, a, mine = r["i"], r["answer"], by_name.get(r["name"], [])
    if len(mine) > 1:
        bad("upload %d is in the database %d times" % (i, len(mine)))
    if r["status"] == 200:
        acked += 1
        row = by_result.get(a.get("result_id")) if a else None
        if row is None:
            bad("upload %d was answered 200 (result %s) but is not in the database" % (i, a and a.get("result_id")))
        elif (row["id"], row["label"], row["sha256"], row["name"]) != (a["id"], a["label"], r["sha256"], r["name"]) \
                or a["sha256"] != r["sha256"]:
            bad("upload %d: answered %s, recorded %s" % (i, a, row))
        continue
    failed += 1
    where = upstream.get(i, "no replica")
    code = a.get("error", {}).get("code") if isinstance(a, dict) and isinstance(a.get("error"), dict) else None
    fail_where["%s%s (%s)" % (r["status"], " " + code if code else "", "killed replica" if where.endswith(":" + killed)
                                      else "restarted replica" if where.endswith(":" + restarted) else where)] += 1
    if r["status"] not in (502, 503) or not (where.endswith(":" + killed) or where.endswith(":" + restarted)):
        bad("upload %d failed with status %d on replica %s, which was neither killed nor restarted"
            % (i, r["status"], where))
    if mine:
        if where.endswith(":" + killed):
            lost_answers += 1
        else:
            bad("upload %d failed (status %d, replica %s) yet is in the database" % (i, r["status"], where))
if len(rows) != acked + lost_answers:
    bad("the database holds %d rows, not %d acknowledged + %d recorded by the killed replica"
        % (len(rows), acked, lost_answers))
# Shared photos: one stored file, and two replicas writing it at once.
pairs = collections.defaultdict(list)
for r in res:
    if r["pair"] and r["status"] == 200:
        pairs[r["pair"]].append(r)
both = two_replicas = 0
for p, rs in pairs.items():
    if len(rs) != 2:
        continue
    both += 1
    a, b = (by_result[x["answer"]["result_id"]] for x in rs)
    if a["sha256"] != b["sha256"] or a["file"] != b["file"]:
        bad("shared photo %s: rows %s and %s differ" % (p, a, b))
    if upstream.get(rs[0]["i"]) != upstream.get(rs[1]["i"]):
        two_replicas += 1
if two_replicas == 0:
    bad("no shared photo went to two replicas (%d pairs both answered)" % both)
for m in problems[:10]:
    print(m)
if problems:
    print("%d problems" % len(problems))
    sys.exit(1)
print("# %d answered 200, %d failed (%s); %d recorded by the killed replica without an answer;"
      " %d shared photos, %d stored by two replicas at once"
      % (acked, failed, ", ".join("%d %s" % (v, k) for k, v in sorted(fail_where.items())) or "none",
         lost_answers, both, two_replicas))
PY
ok "every upload answered 200 is in PostgreSQL exactly once with its verdict; failed ones only as allowed"

python3 - "$WORK/up" "$WORK/db.txt" <<'PY' || fail "the shared folder is not as the database says"
import hashlib, os, sys
up = sys.argv[1]
names = os.listdir(up)
wrong = [n for n in names if not n.startswith(".") and os.path.isfile(os.path.join(up, n))
         and n.split(".")[0] != hashlib.sha256(open(os.path.join(up, n), "rb").read()).hexdigest()]
tmp = [n for n in names if n.startswith(".tmp")]
missing = {l.rstrip("\n").split("|")[5] for l in open(sys.argv[2])} - set(names) - {""}
if wrong or tmp or missing:
    print("not matching their sha256:", wrong[:3], len(wrong), "; temporaries:", tmp[:3], len(tmp),
          "; rows whose file is missing:", sorted(missing)[:3], len(missing))
    sys.exit(1)
print("# %d photos in the shared folder" % sum(1 for n in names if not n.startswith(".")))
PY
! grep -h "cannot rename\|cannot create" "$WORK"/replica*.err | grep -q . ||
    fail "a replica lost a write in the shared folder: $(grep -h 'cannot rename\|cannot create' "$WORK"/replica*.err | head -2)"
ok "the shared folder holds whole photos only (one per row's file), no temporaries, no write lost"

python3 - "$WORK/db.txt" "$(cat "$WORK/admin.token")" "${RPORT[1]}" "${RPORT[2]}" "${RPORT[3]}" <<'PY' ||
import http.client, json, sys
ids = [int(l.split("|")[0]) for l in open(sys.argv[1])][::-1]
token, ports = sys.argv[2], sys.argv[3:]
seen = []
for port in ports:
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    items, total = [], None
    while total is None or len(items) < total:
        conn.request("GET", "/api/v1/history?limit=100&offset=%d" % len(items),
                     headers={"Authorization": "Bearer " + token})
        r = conn.getresponse()
        page = json.loads(r.read())
        if r.status != 200 or not page["items"]:
            print("replica on port %s: status %d at offset %d: %s" % (port, r.status, len(items), str(page)[:200]))
            sys.exit(1)
        total = page["total"]
        items += page["items"]
    conn.close()
    if [x["id"] for x in items] != ids:
        print("replica on port %s lists %d rows, not the database's %d newest first" % (port, len(items), len(ids)))
        sys.exit(1)
    seen.append(items)
if any(s != seen[0] for s in seen):
    print("the replicas' histories differ")
    sys.exit(1)
print("# each replica lists the same %d rows" % len(ids))
PY
    fail "the replicas do not serve the same history"
ok "/api/v1/history, paged, is identical on all three replicas and lists the database's rows"

grep -q '203\.0\.113\.7 POST /api/v1/predict 200' "$WORK"/replica*.err ||
    fail "no replica's log names the client nginx reported: $(grep -h 'POST /api/v1/predict' "$WORK"/replica1.err | head -2)"
ok "behind the trusted proxy the log names the client (203.0.113.7)"
for k in 1 2 3; do stop_replica "$k"; done
nginx_stop
echo "all $N_CHECKS checks passed"
