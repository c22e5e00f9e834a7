#!/usr/bin/env bash
# test_http_faults.sh - the world failing under a running server (a full upload
# disk is test_http_full_disk.sh, which needs root to mount a tmpfs):
#   - the database is locked by another process: the request still gets its
#     verdict, the failure is logged and counted.
. "$(dirname "$0")/lib.sh"
require_tools curl python3 sha256sum

make_model "$WORK/models"

# ---- the database is locked: the verdict still goes out ----
start_server
P1=$(photo jpeg 200 200 1)
req POST /api/v1/predict -F "inputfile=@$P1"
expect_status 200 "first upload"
# Another process takes SQLite's write lock and keeps it until told to let go
# (its standard input closes; 300 s at most), however long the upload takes.
mkfifo "$WORK/locker.in"
"$(command -v python3)" -c '
import pathlib, select, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
pathlib.Path(sys.argv[2]).touch()
while select.select([sys.stdin], [], [], 300)[0] and sys.stdin.readline():
    pass
db.execute("ROLLBACK")
' "$WORK/catdog.db" "$WORK/locked" <"$WORK/locker.in" &
LOCKER=$!
exec 8>"$WORK/locker.in"
# The event: the locker holds the lock (a bound, not a pause).
for _ in $(seq 1 600); do
    [ -f "$WORK/locked" ] && break
    kill -0 "$LOCKER" 2>/dev/null || break
    sleep 0.05
done
[ -f "$WORK/locked" ] || fail "could not lock the database"
P2=$(photo jpeg 200 200 2)
req POST /api/v1/predict -F "inputfile=@$P2"
expect_status 200 "upload while the database is locked"
json_check "j['label'] in ('cat','dog') and j['sha256'] == '$(sha256_of "$P2")' and j['id'] is None" \
    "verdict without a history id"
[ -f "$WORK/up/$(sha256_of "$P2").jpg" ] || fail "the photo was not stored"
grep -q 'error: recording a prediction: database' "$WORK/server.err" || fail "the database failure is not logged"
req GET /metrics
body_has 'catdog_events_total{event="db_error"} 1' "db_error counted"
exec 8>&-
wait "$LOCKER" || fail "the process holding the lock failed"
req POST /api/v1/predict -F "inputfile=@$(photo jpeg 200 200 3)"
expect_status 200 "upload after the lock is gone"
json_check 'j["id"] is not None' "recorded again once the database is free"
ok "a locked database: the verdict still goes out, the failure is logged and counted"
stop_server

echo "all $N_CHECKS checks passed"
