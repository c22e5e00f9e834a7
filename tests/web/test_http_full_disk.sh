#!/usr/bin/env bash
# test_http_full_disk.sh - the upload folder's disk is full (a small tmpfs) under
# a running server: the upload is refused with 507, no partial file is left,
# nothing reaches the database, and the failure is counted in /metrics.
# Mounting needs root (CAP_SYS_ADMIN): without it the test skips (77).
. "$(dirname "$0")/lib.sh"
require_tools curl python3 sha256sum mount umount

make_model "$WORK/models"

# ---- the disk is full ----
MNT="$WORK/small"
mkdir -p "$MNT"
mount -t tmpfs -o size=256k tmpfs "$MNT" 2>/dev/null || skip "cannot mount a tmpfs here (needs root: CAP_SYS_ADMIN)"
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
