# lib.sh - helpers shared by the scripted web tests (tests/web/test_*.sh).
# Sourced, not run.  ctest sets CATDOG_BIN (the program) and CATDOG_SOURCE_DIR.
#
# Each test gets a scratch folder ($WORK, removed at exit), a random-weights
# model made by web_test_fixtures (built next to the program), and starts
# `catdog serve --port 0` itself; the port comes from the line the server
# prints.  Servers bind 127.0.0.1 only and are stopped at exit.
# Exit 77 = skipped (ctest reports it as such).

set -euo pipefail

: "${CATDOG_BIN:?CATDOG_BIN must name the catdog program}"
: "${CATDOG_SOURCE_DIR:?CATDOG_SOURCE_DIR must name the source tree}"
BUILD_DIR=$(cd "$(dirname "$CATDOG_BIN")" && pwd)
FIXTURES="$BUILD_DIR/web_test_fixtures"
SHARED=${CATDOG_SHARED:-$CATDOG_SOURCE_DIR/../shared}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/catdog-webtest.XXXXXX")
SERVER_PID=""
PORT=""
BASE=""
# The admin token every test server gets (start_server), and the header that
# proves it; req sends it unless AS_VISITOR=1 (test_http_access.sh checks what
# a visitor without it may and may not see).
ADMIN_TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$ADMIN_TOKEN" >"$WORK/admin.token"
ADMIN=(-H "Authorization: Bearer $ADMIN_TOKEN")
# Extra serve options; "--backend ref" is added when the build has no oneDNN backend yet.
BACKEND_ARGS=()
N_CHECKS=0

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

skip() { echo "SKIP: $*"; exit 77; }

fail() {
    echo "FAIL: $*" >&2
    if [ -s "$WORK/server.err" ]; then
        echo "--- last lines of the server log:" >&2
        tail -n 15 "$WORK/server.err" >&2
    fi
    exit 1
}

ok() { N_CHECKS=$((N_CHECKS + 1)); echo "ok $N_CHECKS - $*"; }

require_tools() {
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || fail "'$t' is not installed (needed by this test; scripts/install-deps.sh)"
    done
}

# make_model DIR: a random-weights binary.h5 in DIR (the build makes the fixture
# program, so failing to make one is a failure, not a skip).
make_model() {
    mkdir -p "$1"
    [ -x "$FIXTURES" ] || fail "$FIXTURES was not built"
    "$FIXTURES" model "$1/binary.h5" 2>"$WORK/fixture.err" ||
        fail "cannot make a test model: $(cat "$WORK/fixture.err")"
}

# photo jpeg|png W H SEED -> prints the path of a new photo in $WORK/photos.
photo() {
    mkdir -p "$WORK/photos"
    local out="$WORK/photos/$1-$2x$3-$4.$1"
    [ -f "$out" ] || "$FIXTURES" "$1" "$2" "$3" "$4" "$out" || fail "cannot make photo $out"
    echo "$out"
}

# start_server [serve options...]: starts catdog serve with $MODELS, $WORK/up,
# $WORK/catdog.db and the given options; sets SERVER_PID, PORT, BASE.
start_server() {
    local tries=0
    while :; do
        : >"$WORK/server.out"
        "$CATDOG_BIN" serve --port 0 --models "${MODELS:-$WORK/models}" --upload-dir "$WORK/up" \
            --db "$WORK/catdog.db" --admin-token-file "$WORK/admin.token" \
            ${BACKEND_ARGS[@]+"${BACKEND_ARGS[@]}"} "$@" \
            >"$WORK/server.out" 2>>"$WORK/server.err" &
        SERVER_PID=$!
        local i
        for i in $(seq 1 600); do
            if grep -q "listening on" "$WORK/server.out" 2>/dev/null; then
                PORT=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$WORK/server.out" | head -n 1)
                BASE="http://127.0.0.1:$PORT"
                [ -n "$PORT" ] || fail "cannot read the port from: $(cat "$WORK/server.out")"
                return 0
            fi
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
        if [ $tries -eq 0 ] && grep -q "backend not built" "$WORK/server.err"; then
            echo "# this build has no oneDNN backend yet: serving with --backend ref"
            BACKEND_ARGS=(--backend ref)
            tries=1
            continue
        fi
        fail "the server did not start"
    done
}

# stop_server [SIGNAL]: stops the server (SIGTERM by default) and checks how it
# ended: status 0 after SIGTERM (a clean shutdown); after any other signal,
# killed by that signal (128 + its number), so a crash on the way (139 for
# SIGSEGV, 134 for an abort) is a failure, not "some non-zero status".
stop_server() {
    local sig=${1:-TERM}
    [ -n "$SERVER_PID" ] || return 0
    kill -"$sig" "$SERVER_PID"
    local rc=0
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=""
    if [ "$sig" = TERM ]; then
        [ $rc -eq 0 ] || fail "the server exited with status $rc after SIGTERM"
    else
        local want=$((128 + $(kill -l "$sig")))
        [ $rc -eq $want ] || fail "the server exited with status $rc after SIG$sig, expected $want (killed by it)"
    fi
}

# req METHOD PATH [curl options...]: sets STATUS, writes the body to $WORK/body
# and the headers to $WORK/headers.  Sends the admin token unless AS_VISITOR=1.
req() {
    local method=$1 path=$2
    shift 2
    local how=(-X "$method") auth=()
    [ "$method" != HEAD ] || how=(--head)
    [ "${AS_VISITOR:-0}" = 1 ] || auth=("${ADMIN[@]}")
    STATUS=$(curl -s --max-time 60 -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "${how[@]}" \
        ${auth[@]+"${auth[@]}"} "$@" "$BASE$path") || true
}

expect_status() {
    [ "$STATUS" = "$1" ] || fail "$2: expected status $1, got $STATUS; body: $(head -c 400 "$WORK/body")"
}

body_has() {
    grep -qF -- "$1" "$WORK/body" || fail "$2: the answer lacks '$1'; body: $(head -c 600 "$WORK/body")"
}

body_lacks() {
    ! grep -qF -- "$1" "$WORK/body" || fail "$2: the answer should not contain '$1'"
}

header_has() {
    grep -qi -- "$1" "$WORK/headers" || fail "$2: no header matching '$1'; headers: $(cat "$WORK/headers")"
}

# json EXPR [FILE]: evaluates a Python expression over the JSON in FILE
# ($WORK/body by default), bound to `j`; prints the result.
json() {
    python3 -c 'import json,sys; j=json.load(open(sys.argv[2])); r=eval(sys.argv[1]); print(json.dumps(r) if isinstance(r,(dict,list)) else r)' \
        "$1" "${2:-$WORK/body}"
}

# json_check EXPR WHAT [FILE]: fails unless the Python expression over `j` is true.
json_check() {
    local f=${3:-$WORK/body}
    [ "$(json "bool($1)" "$f")" = True ] || fail "$2: $1 is false for $(head -c 600 "$f")"
}

# api_refusal STATUS CODE curl-args...: POST /api/v1/predict with the args is
# refused with STATUS and the JSON error CODE, with a message.
api_refusal() { # status code curl-args...
    local want=$1 code=$2
    shift 2
    req POST /api/v1/predict "$@"
    expect_status "$want" "API refusal $code"
    json_check "j['error']['code'] == '$code' and len(j['error']['message']) > 0" "API refusal $code"
}

# form_refusal STATUS CODE curl-args...: the upload form with the args is
# refused with STATUS and the help page naming CODE, with the link back.
form_refusal() { # status code curl-args... ; checks the help page
    local want=$1 code=$2
    shift 2
    req POST /template/upload -H 'Accept-Language: en' "$@"
    expect_status "$want" "form refusal $code"
    body_has "File didn't load" "refusal $code shows the help page"
    body_has "data-code=\"$code\"" "refusal $code names its reason"
    body_has "Push to load correct 'name'.jpg file" "refusal $code links back"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
