#!/usr/bin/env bash
# bench/replica_bench.sh [BUILD_DIR] - the numbers behind deploy/README.md's
# "Scale on paper" (a benchmark, not a test: nothing asserts a time).
#
# Starts PostgreSQL 15 in a temporary folder (tests/web/pg_lib.sh, fsync on),
# one `catdog serve --db postgresql://...` replica with models/binary.h5, and
# nginx with the shipped deploy/nginx/catdog.conf (tests/web/nginx_lib.sh; all
# three upstream entries point at the one replica), then:
#   1. uploads/s: CATDOG_BENCH_UPLOADS (2000) uploads of 200x200 JPEGs from
#      ../shared/data/dogs-vs-cats/train (200 of them, each made distinct by a
#      trailer; made-up photos without ../shared) from 16 keep-alive clients
#      (tests/web/upload_clients.py), once to the replica directly and once
#      through nginx; for each run the CPU seconds the replica, nginx and
#      PostgreSQL (postmaster and its children) used, per upload;
#   2. the history's write cost: pgbench running catdog's own INSERT (the
#      statement of src/web/history_pg.c, prepared, one transaction each, as
#      the replica does) for 5 s with 1 and with 8 clients;
#   3. sizes: photo bytes and database bytes per upload.
# Prints the load average before and after: the machine may be shared, and
# every rate here is only as good as the cores it got.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export CATDOG_BIN=$BUILD/catdog CATDOG_SOURCE_DIR=$ROOT
[ -x "$CATDOG_BIN" ] || { echo "replica_bench: build first (make build): $CATDOG_BIN missing" >&2; exit 1; }
. tests/web/lib.sh
. tests/web/pg_lib.sh
. tests/web/nginx_lib.sh
require_tools curl python3 nginx
UPLOADS=${CATDOG_BENCH_UPLOADS:-2000}
RPID=""
bench_exit() {
    local rc=$?
    [ -n "$RPID" ] && kill -KILL "$RPID" 2>/dev/null || true
    nginx_stop
    wait 2>/dev/null || true
    pg_cleanup
    cleanup
    exit $rc
}
trap bench_exit EXIT
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

mkdir -p "$WORK/models" "$WORK/photos200"
cp models/binary.h5 "$WORK/models/"
if [ -d "$SHARED/data/dogs-vs-cats/train" ]; then
    find "$SHARED/data/dogs-vs-cats/train" -maxdepth 1 -name '*.jpg' | sort | sed -n 1,200p |
        while read -r f; do cp "$f" "$WORK/photos200/"; done
else
    for i in $(seq 1 20); do cp "$(photo jpeg 200 200 "$i")" "$WORK/photos200/p$i.jpg"; done
fi

pg_start_server
PORT=$(free_port)
"$CATDOG_BIN" serve --port "$PORT" --models "$WORK/models" --upload-dir "$WORK/up" --db "$PG_URL" \
    --admin-token-file "$WORK/admin.token" --trusted-proxy 127.0.0.1 >"$WORK/replica.out" 2>"$WORK/replica.err" &
RPID=$!
for _ in $(seq 1 600); do grep -q "listening on" "$WORK/replica.out" && break; sleep 0.1; done
grep -q "listening on" "$WORK/replica.out" || fail "the replica did not start: $(tail -n 3 "$WORK/replica.err")"
nginx_start "$PORT" "$PORT" "$PORT"

# cpu PID...: user + system CPU time of those processes, in clock ticks.
cpu() { local t=0 p; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
pg_pids() {
    local pm
    pm=$(head -n 1 "$PG_DIR/data/postmaster.pid")
    echo "$pm"
    awk -v pm="$pm" '$4 == pm {print $1}' /proc/[0-9]*/stat 2>/dev/null || true
}
nginx_pids() { echo "$NGINX_PID"; awk -v p="$NGINX_PID" '$4 == p {print $1}' /proc/[0-9]*/stat 2>/dev/null || true; }
HZ=$(getconf CLK_TCK)
# run LABEL PORT: the uploads against PORT, with the CPU each part used.
run() {
    local label=$1 port=$2 r0 n0 p0 r1 n1 p1 out
    local ngp pgp
    mapfile -t ngp < <(nginx_pids)
    mapfile -t pgp < <(pg_pids)
    r0=$(cpu "$RPID"); n0=$(cpu "${ngp[@]}"); p0=$(cpu "${pgp[@]}")
    out=$(python3 tests/web/upload_clients.py 127.0.0.1 "$port" "$WORK/photos200" "$UPLOADS" 16 "$WORK/$label.jsonl" --no-pairs)
    mapfile -t pgp < <(pg_pids)
    r1=$(cpu "$RPID"); n1=$(cpu "${ngp[@]}"); p1=$(cpu "${pgp[@]}")
    local ok200
    ok200=$(grep -c '"status": 200' "$WORK/$label.jsonl" || true)
    python3 - "$label" "$out" "$ok200" "$UPLOADS" "$HZ" "$((r1 - r0))" "$((n1 - n0))" "$((p1 - p0))" <<'PY'
import sys
label, out, ok, n, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
r, ng, pg = (int(x) / hz for x in sys.argv[6:9])
print("%-8s %s; %d answered 200; CPU ms per upload: replica %.2f, nginx %.2f, PostgreSQL %.2f"
      % (label, out.lstrip("# "), ok, r * 1000 / n, ng * 1000 / n, pg * 1000 / n))
PY
}
run direct "$PORT"
run nginx "$NGPORT"

# The history's INSERT, as the replica sends it (history_pg.c, ST_INSERT).
cat >"$WORK/insert.sql" <<'SQL'
\set r random(1, 1000000000)
INSERT INTO predictions(time, sha256, file, name, size, width, height, model, p_dog, label, latency_ms, result)
VALUES (extract(epoch FROM clock_timestamp()), md5(:r::text) || md5((:r + 1)::text), md5(:r::text) || '.jpg',
        'bench.jpg', 7995, 200, 200, 'binary', 0.25, 'cat', 5.0, md5(random()::text))
ON CONFLICT (result, model) DO NOTHING RETURNING id;
SQL
for c in 1 8; do
    "$PG_BIN/pgbench" -n -M prepared -c "$c" -j "$c" -T 5 -f "$WORK/insert.sql" \
        -h "$PG_DIR" -p "$PG_PORT" -U postgres catdog >"$WORK/pgbench$c.out" 2>&1 ||
        fail "pgbench failed: $(tail -n 3 "$WORK/pgbench$c.out")"
    echo "pgbench INSERT, $c client(s): $(grep -E '^tps' "$WORK/pgbench$c.out" | sed 's/ (without.*//'), latency $(sed -n 's/^latency average = //p' "$WORK/pgbench$c.out")"
done

ROWS=$(pg_sql "SELECT count(*) FROM predictions")
TABLE=$(pg_sql "SELECT pg_total_relation_size('predictions')")
PHOTOS=$(find "$WORK/up" -maxdepth 1 -type f ! -name '.*' | wc -l)
PBYTES=$(find "$WORK/up" -maxdepth 1 -type f ! -name '.*' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
echo "sizes: $ROWS rows, predictions table with its indexes $TABLE bytes ($((TABLE / ROWS)) per row);" \
    "$PHOTOS photos, $PBYTES bytes ($((PBYTES / PHOTOS)) per photo)"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
