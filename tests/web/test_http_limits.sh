#!/usr/bin/env bash
# test_http_limits.sh - the server's limits against a real server: 16 MiB is
# accepted and 16 MiB + 1 byte refused with 413 before the body is read; 16
# parallel uploads all answered and recorded; a full inference queue answers
# 503 with Retry-After; the connection limit; idle and slow clients are cut
# off while others are served.
. "$(dirname "$0")/lib.sh"
require_tools curl python3 sha256sum timeout

# wait_log REGEX WHAT: the server writes its log line after the client has its
# answer (or its cut), so wait for the line (the event), 60 s at most.
wait_log() {
    local _
    for _ in $(seq 1 600); do
        grep -Eq -- "$1" "$WORK/server.err" && return 0
        sleep 0.1
    done
    fail "$2: no log line matching '$1'"
}
# wait_file FILE WHAT: the file appears (the event), 60 s at most.
wait_file() {
    local _
    for _ in $(seq 1 600); do
        [ -e "$1" ] && return 0
        sleep 0.1
    done
    fail "$2: $1 never appeared"
}

make_model "$WORK/models"
MIB16=$((16 * 1024 * 1024))

# A valid JPEG padded to exactly 16 MiB (decoders stop at the end-of-image
# marker), and the same plus one byte.
BASEJPG=$(photo jpeg 200 200 7)
cp "$BASEJPG" "$WORK/exact.jpg"
truncate -s "$MIB16" "$WORK/exact.jpg"
cp "$WORK/exact.jpg" "$WORK/over.jpg"
truncate -s $((MIB16 + 1)) "$WORK/over.jpg"

start_server --threads 2 --queue 64
# ---- the size limit ----
req POST /api/v1/predict --data-binary "@$WORK/exact.jpg" -H 'Content-Type: image/jpeg'
expect_status 200 "exactly 16 MiB, raw"
req POST /api/v1/predict -F "inputfile=@$WORK/exact.jpg"
expect_status 200 "exactly 16 MiB, multipart"
ok "a 16 MiB photo is accepted (raw and multipart)"

for expect in '' '-H Expect:'; do
    # shellcheck disable=SC2086
    req POST /api/v1/predict --data-binary "@$WORK/over.jpg" -H 'Content-Type: image/jpeg' $expect
    expect_status 413 "16 MiB + 1, raw ${expect:-with Expect: 100-continue}"
    json_check 'j["error"]["code"] == "too_large"' "413 JSON"
done
# The request with Expect: 100-continue was refused before a byte of its body came in.
wait_log 'POST /api/v1/predict 413 0 ' "the over-limit body was read"
api_refusal 413 too_large -F "inputfile=@$WORK/over.jpg"
form_refusal 413 too_large -F "inputfile=@$WORK/over.jpg"
# A body far over the limit is refused from its Content-Length alone.
STATUS=$(head -c $((MIB16 * 4)) /dev/zero | curl -s -o "$WORK/body" -w '%{http_code}' --max-time 60 \
    -H 'Content-Type: image/jpeg' --data-binary @- "$BASE/api/v1/predict") || true
expect_status 413 "64 MiB raw"
# Chunked (no Content-Length): the rest is read and discarded, then 413.
STATUS=$(head -c $((MIB16 + 100000)) /dev/zero | curl -s -o "$WORK/body" -w '%{http_code}' --max-time 60 \
    -H 'Transfer-Encoding: chunked' -H 'Content-Type: image/jpeg' --data-binary @- "$BASE/api/v1/predict") || true
expect_status 413 "chunked 16 MiB + 100000 bytes"
json_check 'j["error"]["code"] == "too_large"' "chunked over-limit body answered too_large"
# Chunked and far over (more than 16 MiB past the limit): the connection is closed.
STATUS=$(head -c $((3 * MIB16)) /dev/zero | curl -s -o "$WORK/body" -w '%{http_code}' --max-time 60 \
    -H 'Transfer-Encoding: chunked' -H 'Content-Type: image/jpeg' --data-binary @- "$BASE/api/v1/predict") || true
[ "$STATUS" != 200 ] || fail "chunked 48 MiB body accepted"
wait_log 'POST /api/v1/predict 0 [0-9]+ [0-9]+ [0-9.]+ms too_large' "chunked 48 MiB body logged as too_large and cut off"
req GET /healthz
expect_status 200 "server still up after over-limit bodies"
ok "16 MiB + 1 byte: 413 (raw, multipart, form, chunked), nothing kept past the limit; far-over chunked bodies cut off"

# ---- 16 parallel uploads ----
pids=()
for i in $(seq 1 16); do
    p=$(photo jpeg 200 200 $((100 + i)))
    curl -s --max-time 120 -o "$WORK/par$i.json" -w '%{http_code}' -F "inputfile=@$p;filename=par$i.jpg" \
        "$BASE/api/v1/predict" >"$WORK/par$i.status" &
    pids+=($!)
done
wait "${pids[@]}" || true
ids=()
for i in $(seq 1 16); do
    [ "$(cat "$WORK/par$i.status")" = 200 ] || fail "parallel upload $i: status $(cat "$WORK/par$i.status")"
    p=$(photo jpeg 200 200 $((100 + i)))
    json_check "j['sha256'] == '$(sha256_of "$p")' and j['label'] in ('cat','dog') and j['id'] > 0" \
        "parallel upload $i" "$WORK/par$i.json"
    ids+=("$(json 'j["id"]' "$WORK/par$i.json")")
    cmp -s "$p" "$WORK/up/$(sha256_of "$p").jpg" || fail "parallel upload $i not stored whole"
done
[ "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)" = 16 ] || fail "parallel uploads did not get 16 distinct ids"
req GET '/api/v1/history?limit=100'
for i in $(seq 1 16); do
    json_check "any(x['name'] == 'par$i.jpg' for x in j['items'])" "parallel upload $i in the history"
done
ok "16 parallel uploads: all answered, stored whole, recorded once each"
stop_server

# ---- a full queue answers 503 with Retry-After ----
# One worker, one waiting slot: of a burst of simultaneous uploads, at most two
# can be taken at once; the rest must be turned away, not queued without bound.
start_server --threads 1 --queue 1
# A large PNG: its decoding (no DCT shortcut for PNG) keeps the one worker busy.
BIG=$(photo png 4000 3000 9)
got503=0
for attempt in 1 2 3; do
    rm -f "$WORK"/burst*.status
    pids=()
    for i in $(seq 1 12); do
        curl -s --max-time 120 -D "$WORK/burst$i.headers" -o "$WORK/burst$i.json" -w '%{http_code}' \
            -F "inputfile=@$BIG" "$BASE/api/v1/predict" >"$WORK/burst$i.status" &
        pids+=($!)
    done
    wait "${pids[@]}" || true
    for i in $(seq 1 12); do
        s=$(cat "$WORK/burst$i.status")
        case $s in
        200) ;;
        503)
            got503=$((got503 + 1))
            grep -qi '^Retry-After: 1' "$WORK/burst$i.headers" || fail "503 without Retry-After"
            json_check 'j["error"]["code"] == "busy"' "503 JSON" "$WORK/burst$i.json"
            ;;
        *) fail "burst upload $i: unexpected status $s" ;;
        esac
    done
    [ $got503 -eq 0 ] || break
done
[ $got503 -gt 0 ] || fail "12 simultaneous uploads with one worker and one queue slot never got a 503"
req GET /metrics
body_has 'catdog_uploads_rejected_total{reason="busy"}' "busy counted in /metrics"
body_has 'catdog_queue_capacity 1' "queue capacity in /metrics"
ok "a full queue answers 503 + Retry-After ($got503 of the burst)"
stop_server

# ---- connection limit ----
start_server --max-connections 2
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
refused=0
for i in $(seq 1 50); do
    if ! curl -s --max-time 5 -o /dev/null "$BASE/healthz"; then
        refused=1
        break
    fi
    sleep 0.1
done
[ $refused = 1 ] || fail "a third connection was served with --max-connections 2"
exec 3<&- 4<&-
served=0
for i in $(seq 1 50); do
    if curl -s --max-time 5 -o /dev/null "$BASE/healthz"; then
        served=1
        break
    fi
    sleep 0.1
done
[ $served = 1 ] || fail "not served again after the two connections closed"
ok "connection limit: a third connection is turned away, served again once one closes"
stop_server

# ---- idle timeout, slow clients ----
start_server --timeout 1
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
# The server closes an idle connection after the 1 s idle timeout.
timeout 20 cat <&3 >/dev/null || fail "an idle connection was not closed by the server"
exec 3<&-
ok "idle connections are closed after --timeout"

# A client sending its body one byte a second (never idle long enough for the
# idle timeout) is cut off after --request-timeout; others are served meanwhile.
stop_server
start_server --timeout 5 --request-timeout 3
(
    trap '' PIPE
    exec 5<>"/dev/tcp/127.0.0.1/$PORT"
    printf 'POST /api/v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n' >&5
    : >"$WORK/slow-body.connected"
    for i in $(seq 1 30); do
        printf 'x' >&5 2>/dev/null || exit 0
        sleep 1
    done
    exit 1
) &
SLOW=$!
wait_file "$WORK/slow-body.connected" "the slow client connecting"
req POST /api/v1/predict -F "inputfile=@$BASEJPG"
expect_status 200 "upload while a slow client is connected"
wait $SLOW || fail "a client sending one byte a second was not cut off"
wait_log 'body still arriving after 3 s' "the slow client's cut-off logged"
ok "a slow client is cut off after --request-timeout; others are served meanwhile"

# A client trickling its request headers one byte a second (never idle) is
# cut off once it has not completed them within --timeout (5 s).
(
    trap '' PIPE
    exec 5<>"/dev/tcp/127.0.0.1/$PORT"
    header='GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
    for i in $(seq 0 40); do
        printf '%s' "${header:$i:1}" >&5 2>/dev/null || exit 0
        [ "$i" != 0 ] || : >"$WORK/slow-headers.connected"
        sleep 1
    done
    exit 1
) &
SLOW=$!
wait_file "$WORK/slow-headers.connected" "the header trickler connecting"
req GET /healthz
expect_status 200 "served while a client trickles its headers"
wait $SLOW || fail "a client trickling its headers was not cut off"
wait_log 'closed a connection that sent no complete request headers' "the cut-off logged"
req GET /metrics
body_has 'catdog_events_total{event="slow_headers_cut"} 1' "header cut-off counted"
ok "a client trickling its headers is cut off after --timeout"
stop_server
echo "all $N_CHECKS checks passed"
