#!/usr/bin/env bash
# test_http_early_answers.sh - answers given before a request's body is read
# reach the client (lingering close, issue 12 / 17): over-limit uploads get
# their 413, uploads refused while the server is full get their 503, never a
# reset (curl's 000), while other uploads keep the server busy.
#   - Over the 16 MiB limit, CATDOG_EARLY_ROUNDS rounds (default 3) of seven
#     uploads at once: raw 16 MiB + 1 with and without Expect: 100-continue,
#     multipart, chunked, 64 MiB raw, and two clients that send their whole
#     body (16 MiB + 1, 64 MiB) before reading anything; meanwhile three
#     clients upload normal photos in a loop and must all get 200.
#   - Body memory full (--max-upload 64K: 64 bodies at once): 65 clients hold
#     uploads open; once one of them was refused (the event that says the
#     budget is full), raw, chunked and send-everything-first uploads all get
#     503 with Retry-After; after the holders go, uploads are served again.
. "$(dirname "$0")/lib.sh"
require_tools curl python3 truncate
CLIENTS="$(dirname "$0")/early_clients.py"

make_model "$WORK/models"
MIB16=$((16 * 1024 * 1024))
OVER=$(photo jpeg 200 200 7)
cp "$OVER" "$WORK/over.jpg"
truncate -s $((MIB16 + 1)) "$WORK/over.jpg"
truncate -s $((4 * MIB16)) "$WORK/big.bin"
ROUNDS=${CATDOG_EARLY_ROUNDS:-3}

# metric NAME: its value in /metrics (0 when absent).
metric() {
    req GET /metrics
    awk -v n="$1" '$1 == n { v = $2 } END { print v == "" ? 0 : v }' "$WORK/body"
}

# up KIND: one curl upload of the over-limit kind; prints the status.
up() {
    local common=(-s -o /dev/null -w '%{http_code}' --max-time 120 "$BASE/api/v1/predict")
    case $1 in
    raw-expect) curl "${common[@]}" -H 'Content-Type: image/jpeg' --data-binary "@$WORK/over.jpg" ;;
    raw) curl "${common[@]}" -H 'Expect:' -H 'Content-Type: image/jpeg' --data-binary "@$WORK/over.jpg" ;;
    multipart) curl "${common[@]}" -H 'Expect:' -F "inputfile=@$WORK/over.jpg" ;;
    chunked) curl "${common[@]}" -H 'Transfer-Encoding: chunked' -H 'Content-Type: image/jpeg' \
        --data-binary "@$WORK/over.jpg" ;;
    64m) curl "${common[@]}" -H 'Expect:' -H 'Content-Type: image/jpeg' --data-binary "@$WORK/big.bin" ;;
    naive) python3 "$CLIENTS" naive "$PORT" $((MIB16 + 1)) $((MIB16 + 1)) ;;
    naive-64m) python3 "$CLIENTS" naive "$PORT" $((4 * MIB16)) $((4 * MIB16)) ;;
    esac
}

# ---- over the limit, under load ----
start_server --threads 2 --queue 64
rm -f "$WORK/stop"
loaders=()
for l in 1 2 3; do
    (
        p=$(photo jpeg 160 120 $((20 + l)))
        while [ ! -f "$WORK/stop" ]; do
            curl -s -o /dev/null -w '%{http_code}\n' --max-time 120 -F "inputfile=@$p" "$BASE/api/v1/predict" || true
        done
    ) >"$WORK/load$l.log" &
    loaders+=($!)
done
KINDS=(raw-expect raw multipart chunked 64m naive naive-64m)
for round in $(seq 1 "$ROUNDS"); do
    pids=()
    for k in "${KINDS[@]}"; do
        up "$k" >"$WORK/early-$k.status" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}" || true
    for k in "${KINDS[@]}"; do
        s=$(cat "$WORK/early-$k.status")
        [ "$s" = 413 ] || fail "round $round, $k upload over the limit: expected 413, got '$s'"
    done
done
touch "$WORK/stop"
wait "${loaders[@]}" || true
cat "$WORK"/load?.log >"$WORK/load.all"
n_load=$(wc -l <"$WORK/load.all")
[ "$n_load" -gt 0 ] || fail "the load clients sent nothing"
[ "$(grep -cvx 200 "$WORK/load.all")" = 0 ] ||
    fail "uploads beside the refused ones: $(sort "$WORK/load.all" | uniq -c | tr '\n' ' ')"
# Every early answer ended with the client closing, not with a bound.
[ "$(metric 'catdog_events_total{event="early_answer_linger"}')" -ge "$ROUNDS" ] ||
    fail "no lingering close was counted"
[ "$(metric 'catdog_events_total{event="early_answer_linger_cut"}')" = 0 ] ||
    fail "a lingering close hit its bound: $(grep 'lingering close' "$WORK/server.err" | tail -3)"
ok "$ROUNDS rounds of ${#KINDS[@]} over-limit uploads at once: every one answered 413 ($n_load uploads beside them, all 200)"
stop_server

# ---- body memory full: 503, never a reset ----
# Long idle and request timeouts: the held uploads must stay held however slow
# this machine is.
start_server --max-upload 64K --threads 1 --timeout 600 --request-timeout 600
mkfifo "$WORK/hold.in"
python3 "$CLIENTS" hold "$PORT" 65 65536 <"$WORK/hold.in" >"$WORK/hold.out" 2>&1 &
HOLDER=$!
exec 7>"$WORK/hold.in"
# The event: one of the 65 was refused, so the other 64 fill the body budget
# (32 x (64 KiB + 64 KiB of multipart room) = 64 raw bodies of 64 KiB).
for _ in $(seq 1 600); do
    [ "$(metric 'catdog_uploads_rejected_total{reason="busy"}')" -ge 1 ] && break
    kill -0 "$HOLDER" 2>/dev/null || fail "the holding clients stopped: $(cat "$WORK/hold.out")"
    sleep 0.1
done
[ "$(metric 'catdog_uploads_rejected_total{reason="busy"}')" = 1 ] ||
    fail "65 held uploads did not fill the body budget with exactly one refused"
head -c 1000 /dev/zero >"$WORK/small.bin"
for k in raw chunked naive naive-chunked; do
    case $k in
    raw) s=$(curl -s -D "$WORK/h-$k" -o "$WORK/b-$k" -w '%{http_code}' --max-time 60 -H 'Expect:' \
        -H 'Content-Type: image/jpeg' --data-binary "@$WORK/small.bin" "$BASE/api/v1/predict") || true ;;
    chunked) s=$(curl -s -D "$WORK/h-$k" -o "$WORK/b-$k" -w '%{http_code}' --max-time 60 \
        -H 'Transfer-Encoding: chunked' -H 'Content-Type: image/jpeg' --data-binary "@$WORK/small.bin" \
        "$BASE/api/v1/predict") || true ;;
    naive) s=$(python3 "$CLIENTS" naive "$PORT" 60000 60000) ;;
    naive-chunked) s=$(python3 "$CLIENTS" naive "$PORT" 0 200000 chunked) ;;
    esac
    [ "$s" = 503 ] || fail "$k upload while the body memory is full: expected 503, got '$s'"
    case $k in raw | chunked)
        grep -qi '^Retry-After: 1' "$WORK/h-$k" || fail "$k: 503 without Retry-After"
        json_check 'j["error"]["code"] == "busy"' "$k: 503 JSON" "$WORK/b-$k"
        ;;
    esac
done
[ "$(metric 'catdog_uploads_rejected_total{reason="busy"}')" = 5 ] || fail "the four refusals were not counted as busy"
exec 7>&-
wait "$HOLDER" || fail "the holding clients failed: $(cat "$WORK/hold.out")"
grep -qx 'held 65' "$WORK/hold.out" || fail "the holding clients did not all connect: $(cat "$WORK/hold.out")"
# The event: every held and refused request is over (only /metrics' own is in flight).
for _ in $(seq 1 600); do
    [ "$(metric catdog_requests_in_flight)" = 1 ] && break
    sleep 0.1
done
[ "$(metric catdog_requests_in_flight)" = 1 ] || fail "requests still in flight after the holders left: $(metric catdog_requests_in_flight)"
req POST /api/v1/predict -F "inputfile=@$(photo jpeg 160 120 30)"
expect_status 200 "upload after the holders left"
ok "body memory full: raw, chunked and send-everything-first uploads get 503 + Retry-After, never a reset"
stop_server
echo "all $N_CHECKS checks passed"
