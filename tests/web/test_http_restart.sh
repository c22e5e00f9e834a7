#!/usr/bin/env bash
# test_http_restart.sh - what the server keeps: the history and the photos
# survive a restart; SIGTERM while uploads are in flight loses nothing that was
# acknowledged (in-flight requests are finished, then the database is closed);
# so does kill -9; and `catdog export-feedback` turns the history's
# corrections into cats/ and dogs/ folders.
. "$(dirname "$0")/lib.sh"
require_tools curl python3 sha256sum

make_model "$WORK/models"

# check_acknowledged PREFIX N: every upload PREFIX1..N answered 200 is in the
# history with its sha256, and its photo is stored whole.
check_acknowledged() {
    local prefix=$1 n=$2 acked=0 i
    req GET '/api/v1/history?limit=100'
    cp "$WORK/body" "$WORK/history.json"
    for i in $(seq 1 "$n"); do
        [ "$(cat "$WORK/$prefix$i.status" 2>/dev/null)" = 200 ] || continue
        acked=$((acked + 1))
        local id sha
        id=$(json 'j["id"]' "$WORK/$prefix$i.json")
        sha=$(json 'j["sha256"]' "$WORK/$prefix$i.json")
        json_check "any(x['id'] == $id and x['sha256'] == '$sha' for x in j['items'])" \
            "acknowledged upload $prefix$i (id $id) is in the history" "$WORK/history.json"
        local f
        f=$(ls "$WORK/up/$sha".* 2>/dev/null | head -n 1)
        [ -n "$f" ] && [ "$(sha256_of "$f")" = "$sha" ] || fail "acknowledged photo $sha is not stored whole"
    done
    ACKED=$acked
}

# ---- the history and the photos survive a restart ----
start_server --threads 2
for i in 1 2 3; do
    req POST /api/v1/predict -F "inputfile=@$(photo jpeg 200 200 $i);filename=first$i.jpg"
    expect_status 200 "upload $i"
    cp "$WORK/body" "$WORK/first$i.json"
done
ID1=$(json 'j["id"]' "$WORK/first1.json")
ID2=$(json 'j["id"]' "$WORK/first2.json")
req POST "/history/$ID1/feedback" -d label=cat
expect_status 303 "feedback cat"
req POST "/history/$ID2/feedback" -d label=dog
expect_status 303 "feedback dog"
stop_server
start_server --threads 2
req GET /api/v1/history
json_check 'j["total"] == 3' "three rows after a restart"
json_check "[x['feedback'] for x in j['items'] if x['id'] in ($ID1, $ID2)] == ['dog', 'cat']" "feedback kept"
json_check "sorted(x['name'] for x in j['items']) == ['first1.jpg', 'first2.jpg', 'first3.jpg']" "names kept"
req GET /history -H 'Accept-Language: en'
body_has 'first3.jpg' "the history page after a restart"
ok "history, feedback and photos survive a restart"

# ---- export-feedback ----
OUT="$WORK/corrected"
"$CATDOG_BIN" export-feedback --db "$WORK/catdog.db" --out "$OUT" >"$WORK/export.out" ||
    fail "export-feedback failed: $(cat "$WORK/export.out")"
SHA1=$(json 'j["sha256"]' "$WORK/first1.json")
SHA2=$(json 'j["sha256"]' "$WORK/first2.json")
cmp -s "$OUT/cats/$SHA1.jpg" "$(photo jpeg 200 200 1)" || fail "cats/ lacks the photo corrected to cat"
cmp -s "$OUT/dogs/$SHA2.jpg" "$(photo jpeg 200 200 2)" || fail "dogs/ lacks the photo corrected to dog"
[ "$(ls "$OUT/cats" | wc -l)" = 1 ] && [ "$(ls "$OUT/dogs" | wc -l)" = 1 ] || fail "export wrote other photos"
grep -q 'exported 2 photos' "$WORK/export.out" || fail "export summary: $(cat "$WORK/export.out")"
# A changed answer moves the photo to the other class.
req POST "/history/$ID1/feedback" -d label=dog
expect_status 303 "feedback changed"
"$CATDOG_BIN" export-feedback --db "$WORK/catdog.db" --out "$OUT" >"$WORK/export.out" || fail "second export failed"
[ -f "$OUT/dogs/$SHA1.jpg" ] && [ ! -e "$OUT/cats/$SHA1.jpg" ] || fail "a changed answer did not move the photo"
# Exactly 1 (failed, see README): a crash or a sanitizer's abort is not a refusal.
rc=0
"$CATDOG_BIN" export-feedback --db "$WORK/nothere.db" --out "$OUT" 2>"$WORK/export.err" || rc=$?
[ $rc -eq 1 ] || fail "export-feedback on a missing database: exit $rc, expected 1: $(cat "$WORK/export.err")"
grep -q 'nothere.db' "$WORK/export.err" || fail "the error does not name the database"
ok "export-feedback writes corrected photos into cats/ and dogs/ (newest answer wins)"

# ---- SIGTERM while uploads are in flight ----
# One worker and large PNGs (slow to decode): when the first answer arrives the
# others are still queued or being received.
stop_server
start_server --threads 1 --queue 64
for i in $(seq 1 12); do photo png 2000 1500 $((20 + i)) >/dev/null; done # made before the burst
pids=()
for i in $(seq 1 12); do
    curl -s --max-time 120 -o "$WORK/term$i.json" -w '%{http_code}' \
        -F "inputfile=@$(photo png 2000 1500 $((20 + i)));filename=term$i.png" \
        "$BASE/api/v1/predict" >"$WORK/term$i.status" &
    pids+=($!)
done
# Wait until the server is busy with at least half of them (the /metrics
# request itself counts as one in flight).
busy=0
for _ in $(seq 1 1200); do
    n=$(curl -s "${ADMIN[@]}" "$BASE/metrics" | sed -n 's/^catdog_requests_in_flight \([0-9]*\)$/\1/p')
    if [ "${n:-0}" -ge 7 ]; then busy=1; break; fi
    sleep 0.05
done
[ $busy = 1 ] || fail "the uploads never got in flight together"
stop_server TERM # returns once the server has exited, with status 0
wait "${pids[@]}" || true
grep -q 'SIGTERM received' "$WORK/server.err" || fail "no SIGTERM message"
# Requests in flight at SIGTERM were finished, not dropped.
sed -n '/SIGTERM received/,$p' "$WORK/server.err" | grep -q 'POST /api/v1/predict 200' ||
    fail "no upload was finished after SIGTERM (nothing was in flight?)"
for i in $(seq 1 12); do
    s=$(cat "$WORK/term$i.status")
    case $s in 200 | 503 | 000) ;; *) fail "upload term$i during shutdown: status $s" ;; esac
done
start_server --threads 2
check_acknowledged term 12
[ "$ACKED" -ge 2 ] || fail "only $ACKED uploads were acknowledged"
! ls -a "$WORK/up" | grep -q '^\.tmp-' || fail "temporary files left after SIGTERM"
ok "SIGTERM during uploads: all $ACKED acknowledged predictions are in the history, photos whole"

# ---- kill -9 while uploads are in flight ----
for i in $(seq 1 12); do photo png 2000 1500 $((40 + i)) >/dev/null; done
pids=()
for i in $(seq 1 12); do
    curl -s --max-time 120 -o "$WORK/kill$i.json" -w '%{http_code}' \
        -F "inputfile=@$(photo png 2000 1500 $((40 + i)));filename=kill$i.png" \
        "$BASE/api/v1/predict" >"$WORK/kill$i.status" &
    pids+=($!)
done
for _ in $(seq 1 1200); do
    if grep -qs 200 "$WORK"/kill*.status; then break; fi
    sleep 0.05
done
stop_server KILL # checks the server died of the SIGKILL (137), not of a crash before it
wait "${pids[@]}" || true
start_server --threads 2
check_acknowledged kill 12
[ "$ACKED" -ge 1 ] || fail "no upload was acknowledged before kill -9"
! ls -a "$WORK/up" | grep -q '^\.tmp-' || fail "temporary files left after kill -9 and restart"
ok "kill -9 during uploads: all $ACKED acknowledged predictions survive, photos whole"
stop_server
echo "all $N_CHECKS checks passed"
