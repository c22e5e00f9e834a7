#!/usr/bin/env bash
# bench/web_bench.sh [BUILD_DIR] - the web service's speed (a benchmark, not a test).
#
# Drives `catdog serve` with wrk (Debian) posting 200x200 JPEG uploads to
# /api/v1/predict (bench/web_upload.lua: multipart, a different photo each
# request), then, in the same run, a peer built the way the seed was: Flask
# (python3-flask) with the same network in PyTorch (python3-torch), weights from
# the same .h5, once loading the model on every request (as the seed did) and
# once at start-up; and a Node.js peer built for speed (bench/web_node_peer/:
# a 2-worker node:cluster, sharp decoding, onnxruntime-node on `catdog export`'s
# ONNX file, better-sqlite3), doing catdog's storage work (photo fsync'd under
# its SHA-256, a history row in SQLite with WAL + synchronous=FULL), at the same
# connections as catdog.  Prints requests/s, p50 and p99 latency and the ratios.
# The Node peer's modules come from bench/web_node_peer/install.sh (make bench
# runs it); without them its row is skipped with a line saying so.  Its P(dog)
# of four photos must equal catdog's within 1e-4, else the script fails.
#
# Model: models/binary.h5 when present, else a random-weights binary CNN (the
# same arithmetic).  Photos: 200 of ../shared/data/dogs-vs-cats/train (already
# 200x200), else made-up ones.  Environment:
#   CATDOG_BENCH_SECONDS  seconds per wrk run (10)
#   CATDOG_BENCH_CONNS    wrk connections for catdog (32)
#   CATDOG_BENCH_THREADS  catdog serve --threads (default: one per core)
#   CATDOG_BENCH_CPUS     taskset CPU list for the servers (e.g. 0-1), to measure on 2 cores
#   CATDOG_BENCH_MODEL    binary (default) or transfer: the model catdog serves (transfer needs
#                         models/transfer.h5 and its SqueezeNet weights; the peers stay binary)
#   CATDOG_BENCH_SERVE_ARGS  more `catdog serve` options, e.g. "--max-batch 16 --max-wait 1"
#                         (default none: serve's own batching and admission)
#   CATDOG_BENCH_PEERS    0 = catdog only, skip the Flask and Node.js peers (1)
#   CATDOG_BENCH_NODE_WORKERS  the Node.js peer's cluster workers (2)
# BUILD_DIR may be absolute (another build of catdog, e.g. an older commit's).
# The "uploads/s" column counts every answer wrk read (503s included); the line after the table
# gives the server's own count of 200 answers and 503 refusals during the run.  Results of the
# batching and admission work (before / after, both models): README, "Serving under load".
# Besides requests/s (which depend on whatever else the machine runs), the
# table gives each server's CPU time per upload and what that allows on two
# idle cores (2000 / CPU ms).  Servers bind 127.0.0.1 on free ports and are
# stopped at the end.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
case $BUILD in /*) BUILD_ABS=$BUILD ;; *) BUILD_ABS=$ROOT/$BUILD ;; esac
BIN="$BUILD_ABS/catdog"
MODEL=${CATDOG_BENCH_MODEL:-binary}
read -r -a SERVE_ARGS <<<"${CATDOG_BENCH_SERVE_ARGS:-}"
SECS=${CATDOG_BENCH_SECONDS:-10}
CONNS=${CATDOG_BENCH_CONNS:-32}
PY=/usr/bin/python3
SHARED=${CATDOG_SHARED:-$ROOT/../shared}
[ -x "$BIN" ] || { echo "web_bench: build first (make build): $BIN missing" >&2; exit 1; }
command -v wrk >/dev/null || { echo "web_bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
PIN=()
if [ -n "${CATDOG_BENCH_CPUS:-}" ]; then PIN=(taskset -c "$CATDOG_BENCH_CPUS"); fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/catdog-webbench.XXXXXX")
PIDS=()
cleanup() {
    for p in ${PIDS[@]+"${PIDS[@]}"}; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_up() { # URL PID
    for _ in $(seq 1 300); do
        curl -s -o /dev/null "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# ---- model and photos ----
mkdir -p "$WORK/models"
if [ -f models/binary.h5 ]; then
    cp models/binary.h5 "$WORK/models/binary.h5"
    MODEL_NOTE="models/binary.h5"
    # serve's default: the int8 copy where catdog quantize made one (the peers run float32;
    # CATDOG_BENCH_SERVE_ARGS="--precision f32" measures catdog in float32 too).
    if [ "$MODEL" = binary ] && [ -f models/binary.int8.h5 ]; then
        cp models/binary.int8.h5 "$WORK/models/binary.int8.h5"
        MODEL_NOTE="models/binary.h5 and binary.int8.h5 (serve picks its precision)"
    fi
else
    "$BUILD_ABS/web_test_fixtures" model "$WORK/models/binary.h5"
    MODEL_NOTE="random-weights binary CNN (models/binary.h5 not present)"
fi
case $MODEL in
binary) ;;
transfer)
    [ -f models/transfer.h5 ] || { echo "web_bench: CATDOG_BENCH_MODEL=transfer needs models/transfer.h5" >&2; exit 1; }
    cp models/transfer.h5 "$WORK/models/transfer.h5"
    # serve's default: the int8 copy when there (CATDOG_BENCH_SERVE_ARGS="--precision f32": float)
    [ ! -f models/transfer.int8.h5 ] || cp models/transfer.int8.h5 "$WORK/models/transfer.int8.h5"
    MODEL_NOTE="models/transfer.h5 (SqueezeNet 1.1 at 224, serve's default model) for catdog, $MODEL_NOTE for the peers"
    ;;
*) echo "web_bench: CATDOG_BENCH_MODEL must be binary or transfer, not '$MODEL'" >&2; exit 1 ;;
esac
: >"$WORK/photos.txt"
if [ -d "$SHARED/data/dogs-vs-cats/train" ]; then
    for i in $(seq 0 99); do
        echo "$SHARED/data/dogs-vs-cats/train/cat.$i.jpg" >>"$WORK/photos.txt"
        echo "$SHARED/data/dogs-vs-cats/train/dog.$i.jpg" >>"$WORK/photos.txt"
    done
    PHOTO_NOTE="200 photos of ../shared (200x200 JPEG)"
else
    mkdir -p "$WORK/photos"
    for i in $(seq 1 200); do
        "$BUILD_ABS/web_test_fixtures" jpeg 200 200 "$i" "$WORK/photos/p$i.jpg"
        echo "$WORK/photos/p$i.jpg" >>"$WORK/photos.txt"
    done
    PHOTO_NOTE="200 made-up 200x200 JPEGs (../shared absent)"
fi
AVG=$(xargs stat -c %s <"$WORK/photos.txt" | awk '{s+=$1} END {printf "%.1f", s/NR/1024}')

# CPU seconds (user + system) the process PID and its children (the Node peer's
# cluster workers) have used so far.
cpu_seconds() {
    local p kids
    kids=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
    for p in "$1" $kids; do cat "/proc/$p/stat" 2>/dev/null || true; done |
        awk -v hz="$(getconf CLK_TCK)" '{ s += $14 + $15 } END { print s / hz }'
}

# run_wrk NAME URL CONNS SERVER_PID -> one RESULT line in $WORK/NAME.result,
# with the server's CPU milliseconds per answered upload appended (cpu_ms=).
# On a shared machine requests/s depend on the other load; CPU per upload does
# not, and 2000 / cpu_ms is what two idle cores would sustain.
run_wrk() {
    local name=$1 url=$2 conns=$3 pid=$4 c0 c1
    c0=$(cpu_seconds "$pid")
    wrk -t2 -c"$conns" -d"${SECS}s" --timeout 30s --latency -s bench/web_upload.lua "$url" -- "$WORK/photos.txt" \
        >"$WORK/$name.wrk" 2>&1 || true
    c1=$(cpu_seconds "$pid")
    grep '^RESULT' "$WORK/$name.wrk" >"$WORK/$name.result" || { cat "$WORK/$name.wrk"; echo "RESULT requests=0 rps=0 p50_ms=0 p99_ms=0 non200=0 errors=0" >"$WORK/$name.result"; }
    awk -v c0="$c0" -v c1="$c1" '{ n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^requests=/) { split($i, a, "="); n = a[2] }
        printf "%s cpu_ms=%.2f\n", $0, (n > 0 ? (c1 - c0) * 1000 / n : 0) }' "$WORK/$name.result" >"$WORK/$name.tmp"
    mv "$WORK/$name.tmp" "$WORK/$name.result"
}
field() { sed -n "s/.* $2=\([0-9.]*\).*/\1/p" "$WORK/$1.result"; }

echo "web bench: $MODEL_NOTE; $PHOTO_NOTE, ${AVG} KiB average; ${SECS} s per run; $(nproc) cores${CATDOG_BENCH_CPUS:+, servers pinned to CPUs $CATDOG_BENCH_CPUS}"

# ---- catdog ----
PORT=$(free_port)
# /metrics is an admin route: the bench reads the server's own counts with a token of its own.
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/admin.token"; chmod 600 "$WORK/admin.token"
AUTH="Authorization: Bearer $(cat "$WORK/admin.token")"
THREADS_ARG=()
[ -z "${CATDOG_BENCH_THREADS:-}" ] || THREADS_ARG=(--threads "$CATDOG_BENCH_THREADS")
${PIN[@]+"${PIN[@]}"} "$BIN" serve --port "$PORT" --models "$WORK/models" --upload-dir "$WORK/up" --db "$WORK/catdog.db" \
    --admin-token-file "$WORK/admin.token" ${THREADS_ARG[@]+"${THREADS_ARG[@]}"} ${SERVE_ARGS[@]+"${SERVE_ARGS[@]}"} >"$WORK/catdog.out" 2>"$WORK/catdog.log" &
PIDS+=($!)
wait_up "http://127.0.0.1:$PORT/healthz" "${PIDS[-1]}" || { cat "$WORK/catdog.log"; exit 1; }
if [ "$MODEL" = transfer ] && ! grep -q 'model transfer' "$WORK/catdog.log"; then
    echo "web_bench: catdog serve did not load the transfer model:" >&2; cat "$WORK/catdog.log" >&2; exit 1
fi
echo "web bench: catdog serves $(grep -o 'model [a-z0-9_]* ([^)]*)' "$WORK/catdog.log" | paste -sd';' | sed 's/;/; /g')"
# Warm-up: every photo once (stores them; later requests are deduplicated, as repeat uploads are).
SECS_SAVE=$SECS; SECS=2; run_wrk catdog_warm "http://127.0.0.1:$PORT/api/v1/predict" 8 "${PIDS[-1]}"; SECS=$SECS_SAVE
# The server's own counts before and after the run: how many uploads it answered 200 and how
# many it refused 503 (wrk's own count of non-200 answers is not relied on).
curl -s -H "$AUTH" -o "$WORK/catdog.metrics0" "http://127.0.0.1:$PORT/metrics" || : >"$WORK/catdog.metrics0"
run_wrk catdog "http://127.0.0.1:$PORT/api/v1/predict" "$CONNS" "${PIDS[-1]}"
FIRST=$(head -n 1 "$WORK/photos.txt")
CATDOG_P=$(curl -s -F "inputfile=@$FIRST" "http://127.0.0.1:$PORT/api/v1/predict" |
    "$PY" -c 'import json,sys; j=json.load(sys.stdin); print("%.4f" % j["p_dog"])')
# p_dog_of URL PHOTO...: one "PHOTO P(dog)" line each (the API's 6 decimals), for the peers' check.
p_dog_of() {
    local url=$1 f
    shift
    for f in "$@"; do
        printf '%s ' "$f"
        curl -s -F "inputfile=@$f" "$url" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["p_dog"])' ||
            echo "no-answer"
    done
}
mapfile -t CHECK < <(head -n 4 "$WORK/photos.txt")
# The peers run float32: their verdicts are checked against catdog's float32 ones.
"$BIN" predict --json --precision f32 --model "$WORK/models/binary.h5" "${CHECK[@]}" |
    "$PY" -c 'import json,sys
for l in sys.stdin: j = json.loads(l); print(j["file"], "%.6f" % j["p_dog"])' >"$WORK/catdog.check"
curl -s -H "$AUTH" -o "$WORK/catdog.metrics1" "http://127.0.0.1:$PORT/metrics" || : >"$WORK/catdog.metrics1"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# ---- the Flask peer ----
PEER_OK=${CATDOG_BENCH_PEERS:-1}
[ "$PEER_OK" = 0 ] || "$PY" -c 'import flask, torch, h5py, PIL' 2>/dev/null || PEER_OK=0
if [ "$PEER_OK" = 1 ]; then
    for mode in startup per-request; do
        PORT=$(free_port)
        ${PIN[@]+"${PIN[@]}"} "$PY" bench/web_flask_peer.py --model "$WORK/models/binary.h5" --mode "$mode" --port "$PORT" \
            --upload-dir "$WORK/flask-up-$mode" >"$WORK/flask-$mode.log" 2>&1 &
        PIDS+=($!)
        wait_up "http://127.0.0.1:$PORT/healthz" "${PIDS[-1]}" || { cat "$WORK/flask-$mode.log"; exit 1; }
        if [ "$mode" = startup ]; then
            FLASK_P=$(curl -s -F "inputfile=@$FIRST" "http://127.0.0.1:$PORT/api/v1/predict" |
                "$PY" -c 'import json,sys; j=json.load(sys.stdin); print("%.4f" % j["p_dog"])')
        fi
        run_wrk "flask_$mode" "http://127.0.0.1:$PORT/api/v1/predict" 8 "${PIDS[-1]}"
        kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
    done
elif [ "${CATDOG_BENCH_PEERS:-1}" != 0 ]; then
    echo "web bench: the Flask peer needs /usr/bin/python3 with flask, torch, h5py and PIL (make bench installs them)"
fi

# ---- the Node.js peer (bench/web_node_peer/) ----
NODE_OK=${CATDOG_BENCH_PEERS:-1}
NODE_WORKERS=${CATDOG_BENCH_NODE_WORKERS:-2}
if [ "$NODE_OK" != 0 ]; then
    if ! command -v node >/dev/null || ! (cd bench/web_node_peer && node -e "require('better-sqlite3'); require('sharp'); require('busboy')
            require('../../node_modules/onnxruntime-node')" 2>/dev/null); then
        echo "web bench: the Node.js peer's modules are not installed: run bench/web_node_peer/install.sh (make bench does; onnxruntime-node: npm install --ignore-scripts)"
        NODE_OK=0
    fi
fi
if [ "$NODE_OK" != 0 ]; then
    mkdir -p "$WORK/onnx"
    "$BIN" export --model "$WORK/models/binary.h5" --out "$WORK/onnx/binary.onnx" >/dev/null
    PORT=$(free_port)
    ${PIN[@]+"${PIN[@]}"} node bench/web_node_peer/server.js --model "$WORK/onnx/binary.onnx" --port "$PORT" \
        --workers "$NODE_WORKERS" --upload-dir "$WORK/node-up" --db "$WORK/node.db" >"$WORK/node.log" 2>&1 &
    PIDS+=($!)
    wait_up "http://127.0.0.1:$PORT/healthz" "${PIDS[-1]}" || { cat "$WORK/node.log"; exit 1; }
    # /healthz answers once one worker listens; the primary says when all do.
    for _ in $(seq 1 300); do grep -q 'workers listening' "$WORK/node.log" && break; sleep 0.1; done
    grep -q 'workers listening' "$WORK/node.log" || { cat "$WORK/node.log"; exit 1; }
    # The same warm-up as catdog's: every photo once (stored; later uploads find them there).
    SECS_SAVE=$SECS; SECS=2; run_wrk node_warm "http://127.0.0.1:$PORT/api/v1/predict" 8 "${PIDS[-1]}"; SECS=$SECS_SAVE
    p_dog_of "http://127.0.0.1:$PORT/api/v1/predict" "${CHECK[@]}" >"$WORK/node.check"
    # Every 200 answer is a row in the peer's history: its own count of the run's 200s.
    node_rows() { "$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM predictions").fetchone()[0])' "$WORK/node.db"; }
    NODE_ROWS0=$(node_rows)
    run_wrk node "http://127.0.0.1:$PORT/api/v1/predict" "$CONNS" "${PIDS[-1]}"
    NODE_ROWS1=$(node_rows)
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
fi

echo "load average while measuring: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n%-38s %10s %9s %9s %8s %12s %14s\n' "server (wrk connections)" "uploads/s" "p50 ms" "p99 ms" "non-200" \
    "CPU ms/upl" "=> 2-core /s"
row() {
    local cpu
    cpu=$(field "$2" cpu_ms)
    printf '%-38s %10s %9s %9s %8s %12s %14s\n' "$1" "$(field "$2" rps)" "$(field "$2" p50_ms)" "$(field "$2" p99_ms)" \
        "$(($(field "$2" non200) + $(field "$2" errors)))" "$cpu" "$(awk -v c="$cpu" 'BEGIN { if (c > 0) printf "%.0f", 2000 / c }')"
}
row "catdog serve ($CONNS)" catdog
# shellcheck disable=SC2016
awk -v opts="${SERVE_ARGS[*]:-(default options)}" -v secs="$SECS" '
    FNR == 1 { f++ }
    /^catdog_http_requests_total\{route="\/api\/v1\/predict",status="200"\}/ { ok[f] = $2 }
    /^catdog_uploads_rejected_total\{reason="busy"\}/ { busy[f] = $2 }
    /^catdog_batch_size_sum/ { photos[f] += $2 } /^catdog_batch_size_count/ { batches[f] += $2 }
    /^catdog_history_commits_total / { commits[f] = $2 } /^catdog_history_rows_committed_total / { rows[f] = $2 }
    END { printf "catdog serve %s, in the %s s run: %d answered 200 (%.1f/s), %d refused 503 busy",
                 opts, secs, ok[2] - ok[1], (ok[2] - ok[1]) / secs, busy[2] - busy[1];
          if (batches[2] > batches[1]) printf ", %.2f photos per forward pass", (photos[2] - photos[1]) / (batches[2] - batches[1]);
          if (commits[2] > commits[1]) printf ", %.2f history rows per commit", (rows[2] - rows[1]) / (commits[2] - commits[1]);
          printf "\n" }' "$WORK/catdog.metrics0" "$WORK/catdog.metrics1"
[ "$PEER_OK" != 1 ] || row "Flask + PyTorch, model at start-up (8)" flask_startup
[ "$PEER_OK" != 1 ] || row "Flask + PyTorch, model per request (8)" flask_per-request
if [ "$NODE_OK" != 0 ]; then
    row "Node.js cluster x$NODE_WORKERS, ORT+sharp ($CONNS)" node
    echo "Node.js peer, in the $SECS s run: $((NODE_ROWS1 - NODE_ROWS0)) answered 200 (rows added to its history," \
        "$(awk -v n=$((NODE_ROWS1 - NODE_ROWS0)) -v s="$SECS" 'BEGIN { printf "%.1f", n / s }')/s)"
fi
[ "$PEER_OK" != 1 ] && [ "$NODE_OK" = 0 ] || echo
if [ "$PEER_OK" = 1 ]; then
    awk -v a="$(field catdog rps)" -v b="$(field flask_startup rps)" -v c="$(field flask_per-request rps)" 'BEGIN {
        if (b > 0) printf "catdog / Flask (load once):        %.1fx uploads/s\n", a / b;
        if (c > 0) printf "catdog / Flask (load per request): %.1fx uploads/s\n", a / c; }'
    awk -v a="$(field catdog cpu_ms)" -v b="$(field flask_startup cpu_ms)" -v c="$(field flask_per-request cpu_ms)" 'BEGIN {
        if (a > 0) printf "CPU per upload, Flask / catdog:    %.1fx (load once), %.1fx (load per request)\n", b / a, c / a; }'
    echo "P(dog) of $(basename "$FIRST"): catdog $CATDOG_P, Flask peer $FLASK_P"
fi
if [ "$NODE_OK" != 0 ]; then
    awk -v a="$(field catdog rps)" -v b="$(field node rps)" 'BEGIN {
        if (b > 0) printf "catdog / Node.js peer:             %.1fx uploads/s\n", a / b; }'
    awk -v a="$(field catdog cpu_ms)" -v b="$(field node cpu_ms)" 'BEGIN {
        if (a > 0) printf "CPU per upload, Node.js / catdog:  %.1fx\n", b / a; }'
    # The verdicts must be the same network's on the same pixels: P(dog) within 1e-4 of catdog's.
    if ! paste -d' ' "$WORK/catdog.check" "$WORK/node.check" | awk '
        { n++; if ($1 != $3 || $2 !~ /^[0-9.e-]+$/ || $4 !~ /^[0-9.e-]+$/) { bad++; next }
          d = $2 - $4; if (d < 0) d = -d; if (d > max) max = d; if (d > 1e-4) bad++ }
        END { printf "P(dog) of %d photos, Node.js peer against catdog: largest difference %.1e%s\n", n, max,
                     bad ? " - MORE THAN 1e-4" : " (within 1e-4)"; exit bad > 0 }'; then
        echo "web bench: the Node.js peer's verdicts differ from catdog's:" >&2
        paste -d' ' "$WORK/catdog.check" "$WORK/node.check" >&2
        exit 1
    fi
fi
