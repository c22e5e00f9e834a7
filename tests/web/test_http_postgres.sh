#!/usr/bin/env bash
# test_http_postgres.sh - `catdog serve --db postgresql://...`: uploads are
# answered and recorded in PostgreSQL, the history page and API show them,
# feedback reaches `catdog export-feedback --db URL`; 200 polls of /healthz and
# /metrics cost PostgreSQL at most about one round trip per second (counted in
# its own statement log), yet /healthz says "reconnecting" about 1 s after it
# stops and "ok" once it is back (history.h); then PostgreSQL is
# stopped for a while under a small load of concurrent uploads: verdicts keep
# coming (200), /healthz says "reconnecting" and catdog_history_up is 0, and
# once the server is back every acknowledged upload is in the database exactly
# once (the spool, history.h), without restarting catdog.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"
require_tools curl python3

make_model "$WORK/models"
pg_start_server
# Every statement catdog sends goes to PostgreSQL's log (set before catdog
# connects, so all its sessions have it): its round trips, counted below.
pg_sql "ALTER SYSTEM SET log_statement = 'all'" >/dev/null || fail "cannot set log_statement"
pg_sql "SELECT pg_reload_conf()" >/dev/null || fail "cannot reload PostgreSQL's configuration"
for i in $(seq 1 100); do
    [ "$(pg_sql 'SHOW log_statement')" = all ] && break
    sleep 0.1
done
[ "$(pg_sql 'SHOW log_statement')" = all ] || fail "log_statement did not become 'all'"
start_server --db "$PG_URL" --threads 2

# wait_for WHAT CMD...: runs CMD every 0.2 s until it succeeds (120 s at most).
wait_for() {
    local what=$1 i
    shift
    for i in $(seq 1 600); do
        if "$@"; then return 0; fi
        sleep 0.2
    done
    fail "gave up waiting: $what"
}

health_is() {
    req GET /healthz
    [ "$STATUS" = 200 ] && [ "$(json 'j["history"]')" = "$1" ]
}

# ---- recorded in PostgreSQL ----
health_is ok || fail "/healthz history is not ok: $(cat "$WORK/body")"
req GET /metrics
body_has "catdog_history_up 1" "history up in /metrics"
for i in 1 2 3; do
    req POST /api/v1/predict -F "inputfile=@$(photo jpeg 120 90 $i);filename=first$i.jpg"
    expect_status 200 "upload $i"
    cp "$WORK/body" "$WORK/first$i.json"
    json_check 'j["id"] is not None and j["result_id"] is not None' "upload $i recorded"
done
[ "$(pg_sql 'SELECT count(*) FROM predictions')" = 3 ] || fail "PostgreSQL does not hold the 3 rows"
req GET '/api/v1/history?limit=10'
json_check 'j["total"] == 3 and [x["name"] for x in j["items"]] == ["first3.jpg", "first2.jpg", "first1.jpg"]' \
    "the API lists the rows from PostgreSQL"
req GET /history
expect_status 200 "history page"
body_has "first2.jpg" "the history page shows the rows"
ok "uploads recorded in PostgreSQL; history page and API read them"

ID1=$(json 'j["id"]' "$WORK/first1.json")
req POST "/history/$ID1/feedback" -d label=dog
expect_status 303 "feedback"
"$CATDOG_BIN" export-feedback --db "$PG_URL" --out "$WORK/corrected" >"$WORK/export.out" 2>&1 ||
    fail "export-feedback --db URL failed: $(cat "$WORK/export.out")"
SHA1=$(json 'j["sha256"]' "$WORK/first1.json")
cmp -s "$WORK/corrected/dogs/$SHA1.jpg" "$(photo jpeg 120 90 1)" || fail "export-feedback did not write the photo"
ok "feedback stored in PostgreSQL and exported by export-feedback --db URL"

# ---- /healthz and /metrics do not load the database ----
# They answer the last known state, checked with a round trip of their own only
# when it is over 1 s old (PG_STATE_FRESH_S in history_pg.c), so 200 polls make
# at most one per elapsed second (+2 for the edges), where they used to make one each.
round_trips() { grep -cE 'LOG:  (execute|statement)' "$PG_DIR/server.log" || true; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# One curl for all 200 (a balancer's pace, not the speed of starting programs).
URLS=()
for i in $(seq 1 100); do URLS+=("$BASE/healthz" "$BASE/metrics"); done
BEFORE=$(round_trips)
T0=$(now_ms)
curl -s --max-time 120 "${ADMIN[@]}" -w '\nstatus %{http_code}\n' "${URLS[@]}" >"$WORK/polls" ||
    fail "polling /healthz and /metrics failed"
ELAPSED=$(($(now_ms) - T0))
TRIPS=$(($(round_trips) - BEFORE))
[ "$(grep -c '^status 200$' "$WORK/polls")" = 200 ] || fail "not every poll was answered 200: $(grep '^status' "$WORK/polls" | sort | uniq -c)"
[ "$(grep -cE '"history": ?"ok"' "$WORK/polls")" = 100 ] || fail "/healthz did not always say history ok"
[ "$(grep -c '^catdog_history_up 1$' "$WORK/polls")" = 100 ] || fail "/metrics did not always say catdog_history_up 1"
MOST=$((ELAPSED / 1000 + 3))
[ "$TRIPS" -le "$MOST" ] ||
    fail "200 polls of /healthz and /metrics in $ELAPSED ms made $TRIPS round trips to PostgreSQL (at most $MOST expected)"
ok "200 polls of /healthz and /metrics in $ELAPSED ms made $TRIPS round trips to PostgreSQL (at most $MOST)"

# ...yet an outage shows within the staleness bound, and so does the return
# (after the reconnect backoff, 5 s at most).
# history_says STATE: one curl, no python, so the time measured is catdog's.
history_says() { curl -s --max-time 10 "$BASE/healthz" | grep -qE "\"history\": ?\"$1\""; }
pg_stop
T0=$(now_ms)
for i in $(seq 1 300); do
    history_says reconnecting && break
    sleep 0.05
done
TOOK=$(($(now_ms) - T0))
health_is reconnecting || fail "/healthz does not say reconnecting (ready) with PostgreSQL stopped: $(cat "$WORK/body")"
[ "$TOOK" -le 5000 ] || fail "/healthz took $TOOK ms to say reconnecting (1 s staleness, plus polling slack, expected)"
req GET /metrics
body_has "catdog_history_up 0" "history down in /metrics while stopped"
pg_start
T0=$(now_ms)
for i in $(seq 1 600); do
    history_says ok && break
    sleep 0.05
done
BACK=$(($(now_ms) - T0))
health_is ok || fail "/healthz does not say ok after PostgreSQL is back: $(cat "$WORK/body")"
[ "$BACK" -le 8000 ] || fail "/healthz took $BACK ms to say ok again (5 s backoff + 1 s staleness expected)"
ok "/healthz said reconnecting $TOOK ms after PostgreSQL stopped (still ready), ok $BACK ms after it was back"

# ---- PostgreSQL stopped under load ----
# Each client uploads until $WORK/stop exists; one line per upload:
# "STATUS RESULT_ID" (RESULT_ID "-" when none).
client() {
    trap - EXIT # the script's clean-up is the script's, not each client's
    local c=$1 n=0
    # Also ends when the script is gone (its folder removed) or after 3000 uploads.
    while [ ! -e "$WORK/stop" ] && [ -d "$WORK" ] && [ $n -lt 3000 ]; do
        n=$((n + 1))
        local out="$WORK/load-$c-$n.json" st
        st=$(curl -s --max-time 60 -o "$out" -w '%{http_code}' \
            -F "inputfile=@$(photo png 64 48 $((c * 1000 + n % 7)));filename=load-$c-$n.png" \
            "$BASE/api/v1/predict") || st=000
        local rid=-
        [ "$st" != 200 ] || rid=$(json 'j["result_id"] or "-"' "$out")
        echo "$st $rid" >>"$WORK/load-$c.log"
    done
}
answered() { cat "$WORK"/load-*.log 2>/dev/null | wc -l; }
answered_at_least() { [ "$(answered)" -ge "$1" ]; }
# Photos made up front, so the clients only upload.
for c in 1 2 3; do for k in 0 1 2 3 4 5 6; do photo png 64 48 $((c * 1000 + k)) >/dev/null; done; done
PIDS=()
for c in 1 2 3; do
    client $c &
    PIDS+=($!)
done
wait_for "uploads before the stop" answered_at_least 6
pg_stop
AT_STOP=$(answered)
wait_for "/healthz to say reconnecting" health_is reconnecting
req GET /metrics
body_has "catdog_history_up 0" "history down in /metrics"
# ~10 s down, and at least a dozen uploads answered meanwhile.
sleep 10
wait_for "uploads while PostgreSQL is down" answered_at_least $((AT_STOP + 12))
DURING=$(($(answered) - AT_STOP))
pg_start
wait_for "/healthz to say ok again" health_is ok
AT_START=$(answered)
wait_for "uploads after the restart" answered_at_least $((AT_START + 6))
touch "$WORK/stop"
for p in "${PIDS[@]}"; do wait "$p"; done
TOTAL=$(answered)
BAD=$(cat "$WORK"/load-*.log | awk '$1 != 200' | wc -l)
[ "$BAD" = 0 ] || fail "$BAD of $TOTAL uploads were not answered 200: $(cat "$WORK"/load-*.log | awk '$1 != 200' | sort | uniq -c)"
ok "$TOTAL uploads answered 200, $DURING of them while PostgreSQL was stopped"

# Every acknowledged upload, exactly once (rows spooled while it was down are
# replayed by the next call that reaches it: /healthz above, or these).
cat "$WORK"/load-*.log | awk '{print $2}' | sort >"$WORK/acked"
grep -qv -- '^-$' "$WORK/acked" || fail "no result ids"
! grep -q -- '^-$' "$WORK/acked" || fail "an upload answered 200 has no result id"
db_rows() { pg_sql "SELECT result FROM predictions WHERE name LIKE 'load-%' ORDER BY result" >"$WORK/in_db"; }
all_in() { health_is ok && db_rows && [ "$(wc -l <"$WORK/in_db")" -ge "$TOTAL" ]; }
wait_for "the spooled rows to reach PostgreSQL" all_in
diff "$WORK/acked" "$WORK/in_db" >"$WORK/diff" ||
    fail "acknowledged uploads and PostgreSQL rows differ (< acknowledged, > in the database): $(head -n 20 "$WORK/diff")"
[ ! -s "$WORK/up/.history-spool-0" ] || fail "the spool was not emptied"
req GET /metrics
SPOOLED=$(sed -n 's/^catdog_events_total{event="history_spooled"} //p' "$WORK/body")
[ -n "$SPOOLED" ] && [ "$SPOOLED" -gt 0 ] || fail "no row went through the spool (history_spooled: '$SPOOLED')"
ok "all $TOTAL acknowledged uploads are in PostgreSQL exactly once ($SPOOLED went through the spool); the spool is empty"

req GET /history
expect_status 200 "history page after the outage"
stop_server
