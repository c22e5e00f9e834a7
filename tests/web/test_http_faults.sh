#!/usr/bin/env bash
# test_http_faults.sh - the world failing under a running server:
#   - the upload folder's disk is full (a small tmpfs, when this machine lets the
#     test mount one): the upload is refused with 507, no partial file is left,
#     nothing reaches the database, and the failure is counted in /metrics;
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

# ---- the disk is full ----
MNT="$WORK/small"
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=256k tmpfs "$MNT" 2>/dev/null; then
    echo "# cannot mount a tmpfs here (needs root): skipping the full-disk check"
    echo "all $N_CHECKS checks passed"
    exit 0
fi
unmount_and_clean() {
    if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    SERVER_PID=""
    umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
    cleanup
}
trap unmount_and_clean EXIT
start_server --upload-dir "$MNT/up"
SMALL=$(photo jpeg 200 200 4)
req POST /api/v1/predict -F "inputfile=@$SMALL"
expect_status 200 "a small photo fits"
# Fill the disk, leaving less room than the next photo needs.
head -c 200000 /dev/zero >"$MNT/filler" 2>/dev/null || true
# A valid JPEG padded to 150 kB (decoders stop at its end-of-image marker).
BIG="$WORK/big.jpg"
cp "$(photo jpeg 200 200 5)" "$BIG"
truncate -s 150000 "$BIG"
[ "$(stat -c %s "$BIG")" -gt "$(df -B1 --output=avail "$MNT" | tail -n 1)" ] || fail "the disk is not full enough for the test"
req GET /api/v1/history
BEFORE=$(json 'j["total"]')
api_refusal 507 storage_full -F "inputfile=@$BIG"
form_refusal 507 storage_full -F "inputfile=@$BIG"
! ls -a "$MNT/up" | grep -q '^\.tmp-' || fail "a partial file was left on the full disk"
[ ! -e "$MNT/up/$(sha256_of "$BIG").jpg" ] || fail "a photo was stored on a full disk"
req GET /api/v1/history
[ "$(json 'j["total"]')" = "$BEFORE" ] || fail "a refused upload reached the database"
req GET /metrics
body_has 'catdog_events_total{event="store_error"} 2' "store errors counted"
body_has 'catdog_uploads_rejected_total{reason="storage_full"} 2' "507 counted"
rm -f "$MNT/filler"
req POST /api/v1/predict -F "inputfile=@$BIG"
expect_status 200 "the same upload once there is room again"
ok "a full disk: 507, no partial file, nothing in the database, counted in /metrics"
stop_server
echo "all $N_CHECKS checks passed"
