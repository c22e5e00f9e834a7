# pg_lib.sh - a throwaway PostgreSQL 15 server for the history tests.  Sourced
# (after lib.sh when the test also starts catdog), not run.
#
# pg_start_server: initdb in a fresh temporary folder, then pg_ctl start with
# a unix socket in that folder only (listen_addresses=''), on a port nobody
# uses (the socket's name carries it), and a database "catdog".  Sets PG_DIR,
# PG_PORT, PG_URL (postgresql://...) and PG_KEYWORDS (host=... dbname=...).
# pg_stop / pg_start stop and start that same server (its data kept); the
# server is stopped and its folder removed at exit (the EXIT trap also runs
# lib.sh's cleanup when it is there).  PostgreSQL refuses to run as root, so
# as root everything runs as the `postgres` user (runuser), which owns the
# folder.  Exit 77 (skipped) only when the PostgreSQL 15 programs are absent
# (scripts/install-deps.sh installs them: Debian package postgresql).

PG_BIN=${CATDOG_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR=""
PG_PORT=""
PG_URL=""
PG_KEYWORDS=""

pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_cleanup() {
    if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
        pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
}

pg_exit_trap() {
    local rc=$?
    pg_cleanup
    if declare -F cleanup >/dev/null; then cleanup; fi
    exit $rc
}
trap pg_exit_trap EXIT

pg_fail() {
    echo "FAIL: $*" >&2
    [ -n "$PG_DIR" ] && [ -f "$PG_DIR/server.log" ] && tail -n 20 "$PG_DIR/server.log" >&2
    exit 1
}

pg_start() {
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 120 \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses= -c fsync=on" start >/dev/null ||
        pg_fail "PostgreSQL did not start"
}

pg_stop() {
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 120 stop >/dev/null ||
        pg_fail "PostgreSQL did not stop"
}

# A port with no socket of ours on it yet (unix sockets only: no race with
# other programs for a TCP port).
pg_pick_port() {
    local p
    for p in $(shuf -i 20000-60000 -n 50); do
        if [ ! -e "$PG_DIR/.s.PGSQL.$p" ]; then
            echo "$p"
            return
        fi
    done
    echo 54321
}

pg_start_server() {
    if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
        echo "SKIP: PostgreSQL 15 is not installed ($PG_BIN/initdb missing; scripts/install-deps.sh installs the postgresql package)"
        exit 77
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        pg_fail "running as root but there is no 'postgres' user to run PostgreSQL as (the postgresql package creates it)"
    fi
    PG_DIR=$(mktemp -d /tmp/catdog-pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
    chmod 700 "$PG_DIR"
    PG_PORT=$(pg_pick_port)
    pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 ||
        pg_fail "initdb failed: $(tail -n 5 "$PG_DIR/initdb.log")"
    pg_start
    pg_as_owner "$PG_BIN/createdb" -h "$PG_DIR" -p "$PG_PORT" -U postgres catdog ||
        pg_fail "createdb failed"
    PG_URL="postgresql://postgres@/catdog?host=$PG_DIR&port=$PG_PORT"
    PG_KEYWORDS="host=$PG_DIR port=$PG_PORT dbname=catdog user=postgres"
    echo "# PostgreSQL 15 on $PG_DIR/.s.PGSQL.$PG_PORT"
}

# pg_sql SQL: prints the result of one query (unaligned, no headers).
pg_sql() {
    "$PG_BIN/psql" -X -q -A -t -h "$PG_DIR" -p "$PG_PORT" -U postgres -d catdog -c "$1"
}
