#!/usr/bin/env bash
# test_http_batching.sh - dynamic batching and admission by expected wait,
# against a real server:
#  - 64 uploads released at the same instant at a 2-worker server are all
#    answered 200, each with the verdict and probability the same photo gets
#    alone (within 1e-5), and /metrics shows batches of more than one photo;
#  - a server whose expected wait is over --max-wait answers 503 + Retry-After
#    (admission by time, not by a count: the count limit is far away).
# The burst client counts requests it actually sent whole and answers it
# actually read, not threads started; it synchronises with a barrier, never a
# sleep.
. "$(dirname "$0")/lib.sh"
require_tools curl python3

make_model "$WORK/models"
N=64

# --max-wait 60: admission is checked below; here every photo must be taken
# even when the machine is so loaded that a photo takes 100 ms (the expected
# wait of 64 photos would then pass the default 2 s and rightly refuse some).
start_server --threads 2 --max-wait 60
for i in $(seq 1 $N); do
    photo jpeg 200 200 $((500 + i)) >/dev/null
done

# ---- each photo alone: one request at a time, so every batch holds one photo ----
for i in $(seq 1 $N); do
    p=$(photo jpeg 200 200 $((500 + i)))
    req POST /api/v1/predict --data-binary "@$p" -H 'Content-Type: image/jpeg'
    expect_status 200 "photo $i alone"
    cp "$WORK/body" "$WORK/alone$i.json"
done
req GET /metrics
python3 - "$WORK/body" <<'EOF' || fail "sequential uploads ran in batches of more than one photo"
import re, sys
t = open(sys.argv[1]).read()
one = int(re.search(r'catdog_batch_size_bucket\{model="binary",le="1"\} (\d+)', t).group(1))
count = int(re.search(r'catdog_batch_size_count\{model="binary"\} (\d+)', t).group(1))
sys.exit(0 if one == count == 64 else 1)
EOF
ok "64 photos one at a time: 64 batches of one"

# ---- the burst ----
# Each client connects and sends its whole request but the last byte; when all
# 64 have, a barrier releases them and they send the last byte together.
cat >"$WORK/burst.py" <<'EOF'
import json, socket, sys, threading
port, n, outdir, photos = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
barrier = threading.Barrier(n, timeout=60)
lock = threading.Lock()
sent = answered = 0
statuses = [None] * n

def client(i):
    global sent, answered
    body = open(photos[i], 'rb').read()
    head = ('POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n'
            'Content-Length: %d\r\nConnection: close\r\n\r\n' % len(body)).encode()
    req = head + body
    s = socket.create_connection(('127.0.0.1', port), timeout=120)
    try:
        s.sendall(req[:-1])
        barrier.wait()
        s.sendall(req[-1:])
        with lock:
            sent += 1
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, payload = data.partition(b'\r\n\r\n')
    status = int(head.split(b' ', 2)[1]) if head.startswith(b'HTTP/1.') else 0
    statuses[i] = status
    open('%s/burst%d.json' % (outdir, i + 1), 'wb').write(payload)
    if status:
        with lock:
            answered += 1

threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({'sent': sent, 'answered': answered, 'statuses': statuses}))
EOF
photos=()
for i in $(seq 1 $N); do photos+=("$(photo jpeg 200 200 $((500 + i)))"); done
python3 "$WORK/burst.py" "$PORT" $N "$WORK" "${photos[@]}" >"$WORK/burst.out" 2>"$WORK/burst.err" ||
    fail "the burst client failed: $(tail -3 "$WORK/burst.err")"
json_check "j['sent'] == $N" "all $N requests sent whole" "$WORK/burst.out"
json_check "j['answered'] == $N" "all $N requests answered" "$WORK/burst.out"
json_check "j['statuses'] == [200] * $N" "all $N answered 200" "$WORK/burst.out"
ok "$N simultaneous uploads on 2 workers: $N sent, $N answered 200"

# The API rounds probabilities to 6 decimals: 1e-5 plus that rounding.
python3 - "$WORK" $N <<'EOF' || fail "verdicts in the burst differ from alone"
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
bad = []
for i in range(1, n + 1):
    a = json.load(open('%s/alone%d.json' % (work, i)))
    b = json.load(open('%s/burst%d.json' % (work, i)))
    if not (a['label'] == b['label'] and a['sha256'] == b['sha256']
            and abs(a['probabilities']['dog'] - b['probabilities']['dog']) <= 1e-5 + 1e-6):
        bad.append('photo %d: alone %s %s, in the burst %s %s' % (i, a['label'], a['probabilities']['dog'],
                                                                b.get('label'), b.get('probabilities')))
print('\n'.join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
ok "each photo of the burst got the verdict and P(dog) it gets alone (within 1e-5)"

req GET /metrics
python3 - "$WORK/body" >"$WORK/batches" <<'EOF' || fail "/metrics shows no batch of more than one photo: $(grep catdog_batch_size "$WORK/body")"
import re, sys
t = open(sys.argv[1]).read()
one = int(re.search(r'catdog_batch_size_bucket\{model="binary",le="1"\} (\d+)', t).group(1))
count = int(re.search(r'catdog_batch_size_count\{model="binary"\} (\d+)', t).group(1))
photos = float(re.search(r'catdog_batch_size_sum\{model="binary"\} ([0-9.]+)', t).group(1))
# 64 batches of one before the burst; the burst's 64 photos in count - 64 batches.
print('%d batches for the burst\'s 64 photos, %d of them of one photo' % (count - 64, one - 64))
sys.exit(0 if photos == 128 and count - 64 < 64 and count > one else 1)
EOF
body_has 'catdog_queue_wait_seconds_count{model="binary"} 128' "every photo's queue wait counted"
body_has '# TYPE catdog_batch_size histogram' "batch sizes are a histogram"
body_has 'catdog_max_wait_seconds 60' "--max-wait in /metrics"
body_has 'catdog_max_batch 2' "the default --max-batch in /metrics"
# Every upload's history row committed once (the 64 alone and the burst's 64),
# in as many transactions as group commit needed (at most one per row).
body_has 'catdog_history_rows_committed_total 128' "every upload's history row committed and counted once"
COMMITS=$(sed -n 's/^catdog_history_commits_total \([0-9]*\)$/\1/p' "$WORK/body")
[ -n "$COMMITS" ] && [ "$COMMITS" -ge 1 ] && [ "$COMMITS" -le 128 ] || fail "catdog_history_commits_total is '$COMMITS'"
ok "/metrics: $(cat "$WORK/batches"); 128 history rows in $COMMITS commits"
stop_server

# ---- admission by expected wait ----
# One worker; a large PNG takes it a while (no DCT shortcut for PNG).  Once one
# has been measured, photos waiting behind another are expected to wait longer
# than --max-wait 0.01 s: refused with 503 + Retry-After, although --queue
# (the count limit) is far away.
start_server --threads 1 --max-wait 0.01 --queue 1000
BIG=$(photo png 2000 1500 9)
req POST /api/v1/predict --data-binary "@$BIG" -H 'Content-Type: image/png'
expect_status 200 "a large PNG alone"
# Eight at once; on a machine so loaded that they arrive one by one none has
# to wait, so the burst is tried up to three times.
got503=0 got200=0
for attempt in 1 2 3; do
    pids=()
    for i in $(seq 1 8); do
        curl -s --max-time 120 -D "$WORK/wait$i.headers" -o "$WORK/wait$i.json" -w '%{http_code}' \
            --data-binary "@$BIG" -H 'Content-Type: image/png' "$BASE/api/v1/predict" >"$WORK/wait$i.status" &
        pids+=($!)
    done
    wait "${pids[@]}" || true
    for i in $(seq 1 8); do
        case $(cat "$WORK/wait$i.status") in
        200) got200=$((got200 + 1)) ;;
        503)
            got503=$((got503 + 1))
            grep -Eqi '^Retry-After: [1-9][0-9]*' "$WORK/wait$i.headers" || fail "503 without Retry-After"
            json_check "j['error']['code'] == 'busy' and 'expected wait' in j['error']['message']" "503 says why" \
                "$WORK/wait$i.json"
            ;;
        *) fail "upload $i: unexpected status $(cat "$WORK/wait$i.status")" ;;
        esac
    done
    [ $got503 -eq 0 ] || break
done
[ $got200 -gt 0 ] || fail "8 simultaneous large photos on an idle worker: none admitted"
[ $got503 -gt 0 ] || fail "8 simultaneous large photos with --max-wait 0.01: none refused"
req GET /metrics
body_has 'catdog_max_wait_seconds 0.01' "--max-wait in /metrics"
body_has 'catdog_uploads_rejected_total{reason="busy"}' "refusals counted"
ok "expected wait over --max-wait: $got503 refused with 503 + Retry-After, $got200 admitted"
stop_server
