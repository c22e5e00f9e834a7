#!/usr/bin/env bash
# bench/web_profile.sh [BUILD_DIR] - where `catdog serve` spends its CPU per upload (a
# measurement, not a test; issue 16).
#
# Starts catdog serve as bench/web_bench.sh does (models/binary.h5, or transfer with
# CATDOG_BENCH_MODEL=transfer; 200 photos of ../shared, a warm-up that stores each once),
# loads it with wrk (bench/web_upload.lua, CATDOG_BENCH_CONNS connections, 32) and, over a
# window inside the run (while the connections, and so their threads, are alive), reads
#   - the server's own count of uploads answered 200 (/metrics),
#   - the CPU time of each of its threads (/proc/PID/task/*/stat): the inference workers
#     (catdog-infer: decode, resize, forward pass), the connection threads (MHD-connection:
#     HTTP, multipart, SHA-256, store, history, JSON) and the rest,
#   - with perf (CATDOG_PROFILE_PERF=1, the default when perf is installed), a profile of the
#     window: the shares of the binaries and the top functions, per thread kind.
# Prints CPU milliseconds per upload for each kind of thread.  CPU per upload, unlike
# uploads/s, hardly depends on what else the machine runs; still, the shares move with
# cache pressure, so compare runs made under similar load.
# Environment: CATDOG_BENCH_SECONDS (10), CATDOG_BENCH_CONNS (32), CATDOG_BENCH_MODEL,
# CATDOG_BENCH_SERVE_ARGS, CATDOG_BENCH_CPUS (taskset list), CATDOG_PROFILE_PERF (0 / 1),
# CATDOG_PROFILE_KEEP (a folder to keep perf.data in).
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
case $BUILD in /*) BIN=$BUILD/catdog ;; *) BIN=$ROOT/$BUILD/catdog ;; esac
SECS=${CATDOG_BENCH_SECONDS:-10}
CONNS=${CATDOG_BENCH_CONNS:-32}
MODEL=${CATDOG_BENCH_MODEL:-binary}
read -r -a SERVE_ARGS <<<"${CATDOG_BENCH_SERVE_ARGS:-}"
SHARED=${CATDOG_SHARED:-$ROOT/../shared}
PY=/usr/bin/python3
PERF=${CATDOG_PROFILE_PERF:-}
[ -n "$PERF" ] || { command -v perf >/dev/null && PERF=1 || PERF=0; }
[ -x "$BIN" ] || { echo "web_profile: build first (make build): $BIN missing" >&2; exit 1; }
command -v wrk >/dev/null || { echo "web_profile: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ "$SECS" -ge 4 ] || { echo "web_profile: CATDOG_BENCH_SECONDS must be at least 4" >&2; exit 1; }
[ -d "$SHARED/data/dogs-vs-cats/train" ] || { echo "web_profile: needs $SHARED/data/dogs-vs-cats/train" >&2; exit 1; }
[ -f "models/$MODEL.h5" ] || { echo "web_profile: models/$MODEL.h5 missing" >&2; exit 1; }
PIN=()
if [ -n "${CATDOG_BENCH_CPUS:-}" ]; then PIN=(taskset -c "$CATDOG_BENCH_CPUS"); fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/catdog-webprofile.XXXXXX")
PIDS=()
cleanup() {
    for p in ${PIDS[@]+"${PIDS[@]}"}; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${CATDOG_PROFILE_DEBUG:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/models"
cp "models/$MODEL.h5" "$WORK/models/"
[ "$MODEL" = binary ] || [ ! -f models/binary.h5 ] || cp models/binary.h5 "$WORK/models/" # as web_bench.sh
for i in $(seq 0 99); do
    echo "$SHARED/data/dogs-vs-cats/train/cat.$i.jpg"
    echo "$SHARED/data/dogs-vs-cats/train/dog.$i.jpg"
done >"$WORK/photos.txt"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/admin.token"
chmod 600 "$WORK/admin.token"
AUTH="Authorization: Bearer $(cat "$WORK/admin.token")"
URL=http://127.0.0.1:$PORT
${PIN[@]+"${PIN[@]}"} "$BIN" serve --port "$PORT" --models "$WORK/models" --upload-dir "$WORK/up" \
    --db "$WORK/catdog.db" --admin-token-file "$WORK/admin.token" ${SERVE_ARGS[@]+"${SERVE_ARGS[@]}"} \
    >"$WORK/catdog.out" 2>"$WORK/catdog.log" &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 1 300); do
    curl -s -o /dev/null "$URL/healthz" && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/catdog.log" >&2; exit 1; }
    sleep 0.1
done
if [ "$MODEL" = transfer ] && ! grep -q 'model transfer' "$WORK/catdog.log"; then
    echo "web_profile: catdog serve did not load the transfer model:" >&2; cat "$WORK/catdog.log" >&2; exit 1
fi
# Warm-up: each photo once, in order (stored; later uploads are repeats, as in web_bench.sh).
while read -r p; do curl -s -o /dev/null -F "inputfile=@$p" "$URL/api/v1/predict"; done <"$WORK/photos.txt"

# snapshot NAME: the answered uploads and every thread's CPU ticks, now.
snapshot() {
    curl -s -H "$AUTH" "$URL/metrics" |
        sed -n 's/^catdog_http_requests_total{route="\/api\/v1\/predict",status="200"} \([0-9]*\)$/\1/p' >"$WORK/$1.n"
    for t in /proc/"$SERVER"/task/*; do
        # comm may hold spaces; the fields after ") " are fixed: utime and stime are 12th and 13th.
        s=$(cat "$t/stat" 2>/dev/null) || continue
        comm=${s#*(}; comm=${comm%)*}; rest=${s##*) }
        echo "$comm $(echo "$rest" | awk '{print $12 + $13}')"
    done >"$WORK/$1.cpu"
}

# The window: from 1 s after wrk starts to 2 s before it ends, connections all open.
WIN=$((SECS - 3))
wrk -t2 -c"$CONNS" -d"${SECS}s" --timeout 30s -s bench/web_upload.lua "$URL/api/v1/predict" -- "$WORK/photos.txt" \
    >"$WORK/wrk.txt" 2>&1 &
WRK=$!
PIDS+=("$WRK")
sleep 1
snapshot a
if [ "$PERF" = 1 ]; then
    perf record -F 499 -g -o "$WORK/perf.data" -p "$SERVER" >"$WORK/perf.log" 2>&1 &
    PERF_PID=$!
fi
sleep "$WIN"
snapshot b
if [ "$PERF" = 1 ]; then
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    [ -s "$WORK/perf.data" ] || { echo "web_profile: perf recorded nothing: $(cat "$WORK/perf.log")"; PERF=0; }
fi
wait "$WRK" || true
conns() { grep -c '^MHD-connection ' "$WORK/$1.cpu" || true; }
[ "$(conns a)" = "$(conns b)" ] || echo "web_profile: warning: $(conns a) connection threads at the start of the" \
    "window, $(conns b) at its end: the HTTP threads' CPU is not all counted"

N=$(($(cat "$WORK/b.n") - $(cat "$WORK/a.n")))
[ "$N" -gt 0 ] || { echo "web_profile: no upload answered 200 in the window" >&2; cat "$WORK/wrk.txt" >&2; exit 1; }
echo "web profile: $MODEL model, $CONNS connections, $N uploads answered 200 in a ${WIN} s window" \
    "(load average $(cut -d' ' -f1-3 /proc/loadavg))"
# Threads alive at both ends (connection threads live as long as their connection).
awk -v n="$N" -v hz="$(getconf CLK_TCK)" '
    FNR == 1 { f++ }
    { kind = $1 ~ /^MHD-connection/ ? "HTTP connection threads" : $1 == "catdog-infer" ? "inference workers" : "other threads"
      if (f == 1) a[kind] += $2; else b[kind] += $2 }
    END { for (k in b) { ms = (b[k] - a[k]) * 1000 / hz / n; tot += ms; printf "  %-26s %7.3f ms CPU per upload\n", k, ms }
          printf "  %-26s %7.3f ms CPU per upload\n", "total", tot }' "$WORK/a.cpu" "$WORK/b.cpu"
if [ "$PERF" = 1 ]; then
    for kind in catdog-infer MHD-connection; do
        echo
        echo "perf, $kind threads: samples by binary, then the top functions (percent of all the window's samples)"
        perf report -i "$WORK/perf.data" --no-children --comm "$kind" --sort dso --stdio -g none 2>/dev/null |
            grep '%' | head -8 || true
        perf report -i "$WORK/perf.data" --no-children --comm "$kind" --sort sym --stdio -g none 2>/dev/null |
            grep '%' | head -15 || true
    done
    if [ -n "${CATDOG_PROFILE_KEEP:-}" ]; then
        mkdir -p "$CATDOG_PROFILE_KEEP"
        cp "$WORK/perf.data" "$CATDOG_PROFILE_KEEP/perf.data"
        echo "perf.data kept in $CATDOG_PROFILE_KEEP (perf report -i $CATDOG_PROFILE_KEEP/perf.data)"
    fi
fi
