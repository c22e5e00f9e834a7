#!/usr/bin/env bash
# test_fault_storage.sh - the server's storage failing under it (issue 6, §3).
# tests/web/test_http_full_disk.sh covers a full upload disk and
# tests/web/test_http_faults.sh a locked database; this covers the rest:
#   - the upload folder becomes read-only (a tmpfs remounted ro: root bypasses
#     file permissions, a read-only mount it cannot): the upload is refused with
#     507 and a clear error (API and form), no file is left, nothing reaches the
#     history, the server keeps serving and takes uploads again once writable;
#   - the database's disk fills up: the request still gets its verdict (no
#     history id), the failure is logged and counted in /metrics, and rows are
#     recorded again once there is room.
# Mounting needs root (CAP_SYS_ADMIN): without it the test skips (77).
. "$(dirname "$0")/../web/lib.sh"
require_tools curl python3 sha256sum mount umount

MNT_UP="$WORK/up-mnt"
MNT_DB="$WORK/db-mnt"
mkdir -p "$MNT_UP" "$MNT_DB"
mount -t tmpfs -o size=8m tmpfs "$MNT_UP" 2>/dev/null || skip "cannot mount a tmpfs here (needs root)"
if ! mount -t tmpfs -o size=1m tmpfs "$MNT_DB" 2>/dev/null; then
    umount "$MNT_UP"
    skip "cannot mount a second tmpfs"
fi
unmount_and_clean() {
    if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    SERVER_PID=""
    for m in "$MNT_UP" "$MNT_DB"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    cleanup
}
trap unmount_and_clean EXIT

make_model "$WORK/models"
history_total() { req GET /api/v1/history; expect_status 200 "history"; json 'j["total"]'; }
metric() { req GET /metrics; sed -n "s/^$1 //p" "$WORK/body"; }

# ---- the upload folder turns read-only ----
start_server --upload-dir "$MNT_UP/photos" --db "$WORK/catdog.db"
P1=$(photo jpeg 120 90 1)
req POST /api/v1/predict -F "inputfile=@$P1"
expect_status 200 "upload to a writable folder"
BEFORE=$(history_total)
mount -o remount,ro "$MNT_UP" || fail "cannot remount the upload tmpfs read-only"
P2=$(photo jpeg 120 90 2)
SHA2=$(sha256_of "$P2")
api_refusal 507 storage_error -F "inputfile=@$P2"
form_refusal 507 storage_error -F "inputfile=@$P2"
grep -q "error: storing an upload: .*Read-only file system" "$WORK/server.err" ||
    fail "the cause is not logged"
[ ! -e "$MNT_UP/photos/$SHA2.jpg" ] || fail "a refused photo was stored"
[ "$(history_total)" = "$BEFORE" ] || fail "a refused upload reached the history"
[ "$(metric 'catdog_events_total{event="store_error"}')" = 2 ] || fail "store errors not counted"
req GET /healthz
expect_status 200 "still serving"
mount -o remount,rw "$MNT_UP" || fail "cannot remount rw"
req POST /api/v1/predict -F "inputfile=@$P2"
expect_status 200 "the same upload once the folder is writable again"
[ "$(sha256_of "$MNT_UP/photos/$SHA2.jpg")" = "$SHA2" ] || fail "the photo is not stored whole"
! ls -a "$MNT_UP/photos" | grep -q '^\.tmp' || fail "temporary files left behind"
ok "a read-only upload folder: 507 with the reason, nothing stored or recorded, served again once writable"
stop_server

# ---- the database's disk fills up ----
start_server --upload-dir "$WORK/up" --db "$MNT_DB/catdog.db"
req POST /api/v1/predict -F "inputfile=@$P1"
expect_status 200 "first upload"
json_check 'j["id"] is not None' "recorded"
# Fill the database's disk to the last byte (dd stops at ENOSPC).
dd if=/dev/zero of="$MNT_DB/filler" bs=4k 2>/dev/null || true
ROWS_FULL=0
for i in 1 2 3; do
    P=$(photo png 64 48 $((10 + i)))
    req POST /api/v1/predict -F "inputfile=@$P"
    expect_status 200 "upload while the database's disk is full ($i)"
    json_check "j['label'] in ('cat','dog') and j['sha256'] == '$(sha256_of "$P")'" "the verdict still goes out"
    [ "$(json 'j["id"] is None')" = True ] || ROWS_FULL=$((ROWS_FULL + 1))
    [ -f "$WORK/up/$(sha256_of "$P").png" ] || fail "the photo was not stored"
done
# SQLite may still fit a row or two into pages it already holds: at least one
# upload must have met the full disk, and each that did is logged and counted.
DBERR=$(metric 'catdog_events_total{event="db_error"}')
[ -n "$DBERR" ] && [ "$DBERR" -ge 1 ] || fail "no database error counted with a full disk"
[ $((ROWS_FULL + DBERR)) -eq 3 ] || fail "$ROWS_FULL rows recorded + $DBERR errors counted for 3 uploads"
[ "$(grep -c 'error: recording a prediction' "$WORK/server.err")" = "$DBERR" ] ||
    fail "not every database failure is logged"
rm -f "$MNT_DB/filler"
req POST /api/v1/predict -F "inputfile=@$(photo png 64 48 20)"
expect_status 200 "upload once there is room"
json_check 'j["id"] is not None' "recorded again"
ok "the database's disk fills up: verdicts still go out ($DBERR unrecorded, logged and counted), recorded again after"
stop_server
echo "all $N_CHECKS checks passed"
