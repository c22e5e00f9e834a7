#!/usr/bin/env bash
# test_history_pg.sh - the history contract tests (test_history_backends.c)
# against PostgreSQL: starts a throwaway PostgreSQL 15 (pg_lib.sh) and runs the
# same test program with its connection string, and with the commands that
# stop and start it (the spool test).  Both connection string forms: the URL
# for the whole run, the keyword form for a second pass of the contract.
set -euo pipefail
: "${CATDOG_BIN:?CATDOG_BIN must name the catdog program}"
: "${CATDOG_SOURCE_DIR:?CATDOG_SOURCE_DIR must name the source tree}"
BUILD_DIR=$(cd "$(dirname "$CATDOG_BIN")" && pwd)
PROG="$BUILD_DIR/web_test_history_backends"
source "$CATDOG_SOURCE_DIR/tests/web/pg_lib.sh"
[ -x "$PROG" ] || { echo "FAIL: $PROG was not built" >&2; exit 1; }
pg_start_server
# The test calls these through system(): they must work from its shell.
export CATDOG_PG_STOP="runuser -u postgres -- $PG_BIN/pg_ctl -D $PG_DIR/data -m fast -w -t 120 stop >/dev/null"
export CATDOG_PG_START="runuser -u postgres -- $PG_BIN/pg_ctl -D $PG_DIR/data -l $PG_DIR/server.log -w -t 120 -o '-p $PG_PORT -k $PG_DIR -c listen_addresses=' start >/dev/null"
if [ "$(id -u)" != 0 ]; then
    CATDOG_PG_STOP=${CATDOG_PG_STOP#runuser -u postgres -- }
    CATDOG_PG_START=${CATDOG_PG_START#runuser -u postgres -- }
fi
"$PROG" "$PG_URL"
echo "# again with the keyword form of the connection string"
"$PROG" "$PG_KEYWORDS"
