#!/usr/bin/env bash
# test_fault_clients.sh - clients that misbehave (issue 6, §3): resources are
# freed and other clients are served.
#   - 100 uploads that declare 1 MiB, send all but the last 576 bytes and go
#     away (closed or reset):
#     the memory each reserved for its body comes back.  With --max-upload 1M
#     the server holds at most 32 bodies at once, so if the abandoned ones kept
#     theirs, later uploads would be refused; they must all be answered 200,
#     and no request may stay in flight.
#   - 20 clients that announce 10 MB and send it one byte a second (slowloris):
#     meanwhile normal uploads are answered; every slow one is cut off by the
#     server after --request-timeout, long before its 10 MB.
# In build-asan the server stops with SIGTERM at the end and must exit 0, so
# LeakSanitizer has checked that nothing these clients left behind leaked.
. "$(dirname "$0")/../web/lib.sh"
require_tools curl python3
CLIENTS="$(dirname "$0")/clients.py"

make_model "$WORK/models"
in_flight() { req GET /metrics; sed -n 's/^catdog_requests_in_flight //p' "$WORK/body"; }
# wait_idle WHAT: up to 60 s for the server to have no request in flight but
# the /metrics one asking.
wait_idle() {
    local i
    for i in $(seq 1 120); do
        [ "$(in_flight)" = 1 ] && return 0
        sleep 0.5
    done
    fail "$1: $(in_flight) requests still in flight"
}

# ---- abandoned uploads ----
start_server --max-upload 1M --threads 2
P=$(photo jpeg 160 120 1)
N=$(python3 "$CLIENTS" abandon "$PORT" 100 1048576 1048000)
[ "$N" = 100 ] || fail "only $N of the 100 abandoning clients sent their bytes"
wait_idle "after 100 abandoned uploads"
for i in $(seq 1 40); do
    req POST /api/v1/predict -F "inputfile=@$P;filename=after$i.jpg"
    expect_status 200 "upload $i after the abandoned ones"
done
wait_idle "after the uploads that followed"
req GET /metrics
RECEIVED=$(sed -n 's/^catdog_http_received_bytes_total //p' "$WORK/body")
# Those bodies must have come in (a reset may drop what was still in flight,
# the closed ones arrive whole): more than the 34 MiB (32 x (1 MiB + 64 KiB of
# multipart room)) the server may hold at once.
[ "$RECEIVED" -ge $((40 * 1048576)) ] || fail "the abandoned bodies did not reach the server ($RECEIVED bytes)"
stop_server
ok "100 uploads abandoned before their end: nothing stays in flight, their body memory is returned (40 uploads served after)"

# ---- slowloris ----
start_server --request-timeout 6 --timeout 4 --threads 2
python3 "$CLIENTS" slow "$PORT" 20 10000000 40 >"$WORK/slow.json" &
SLOW=$!
# The event: all 20 are connected and have sent their headers (20 requests in
# flight besides the /metrics one asking); bounded at 60 s.
for _ in $(seq 1 600); do
    [ "$(in_flight)" -ge 21 ] && break
    kill -0 "$SLOW" 2>/dev/null || break
    sleep 0.1
done
[ "$(in_flight)" -ge 21 ] || fail "the 20 slow clients did not all connect ($(in_flight) requests in flight)"
for i in $(seq 1 10); do
    req POST /api/v1/predict -F "inputfile=@$P;filename=busy$i.jpg"
    expect_status 200 "upload $i while 20 clients trickle"
done
wait "$SLOW" || fail "the slow clients' driver failed"
json_check 'j["cut"] == 20 and j["open"] == 0 and j["refused"] == 0' "every slow client cut off" "$WORK/slow.json"
json_check 'j["max_sent"] < 1000' "cut off long before 10 MB" "$WORK/slow.json"
wait_idle "after the slow clients"
req POST /api/v1/predict -F "inputfile=@$P;filename=after-slow.jpg"
expect_status 200 "upload after the slow clients"
stop_server
ok "20 clients sending 10 MB at one byte a second: others served meanwhile, all cut off after the request timeout"
echo "all $N_CHECKS checks passed"
