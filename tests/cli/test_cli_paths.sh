#!/usr/bin/env bash
# tests/cli/test_cli_paths.sh - command-line paths no other test takes:
#   - `catdog version` and `catdog --version`: exit 0 and the four version
#     lines; an argument is a usage error (2);
#   - no command, an unknown command: exit 2 with a hint; --help: exit 0;
#   - `serve` start-up: a bad option or value (2), the port in use (1), an
#     upload folder that cannot be made (1), each with a message naming the
#     problem; a models "folder" that is a file: served from the built-in copy,
#     the log naming the path and why;
#   - SIGINT to `serve`: logged, exit 0, no temporaries left (photos, SQLite);
#   - Ctrl-C twice in `train`: the first asks for a graceful stop and says so,
#     the second stops at once: exit 3, its message, nothing saved.
# Every exit status is checked, and stderr for sanitizer reports.
. "$(dirname "$0")/../web/lib.sh"
require_tools curl python3

# run WANT ARGS...: `catdog ARGS` must exit WANT; stdout in $WORK/out, stderr in $WORK/err.
run() {
    local want=$1 rc=0
    shift
    "$CATDOG_BIN" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    [ "$rc" = "$want" ] || fail "catdog $*: exit status $rc, expected $want; stderr: $(cat "$WORK/err")"
    no_sanitizer_report "$WORK/err" "catdog $*"
}
no_sanitizer_report() {
    ! grep -qE 'Sanitizer|runtime error:' "$1" || fail "$2: sanitizer report: $(cat "$1")"
}
has() { grep -qE -- "$2" "$1" || fail "$3: $1 lacks /$2/: $(cat "$1")"; }

# ---- version, help, unknown commands ----
run 0 version
has "$WORK/out" '^catdog [0-9]+\.[0-9]+\.[0-9]+$' "version"
for lib in oneDNN HDF5 jansson; do has "$WORK/out" "^$lib [0-9]" "version lists $lib"; done
cp "$WORK/out" "$WORK/version"
run 0 --version
cmp -s "$WORK/out" "$WORK/version" || fail "--version differs from version"
run 2 version extra
has "$WORK/err" "unexpected argument 'extra'" "version with an argument"
run 0 version --help
has "$WORK/out" '^Usage: catdog version' "version --help"
ok "version and --version: exit 0, the four versions; an argument: 2"

run 2 frobnicate
has "$WORK/err" "^catdog: unknown command 'frobnicate'$" "unknown command"
has "$WORK/err" "catdog --help" "unknown command hint"
run 2
has "$WORK/err" '^Usage: catdog <command>' "no command shows the usage"
run 0 --help
has "$WORK/out" '^  serve ' "--help lists serve"
ok "an unknown command and no command: 2 with a hint; --help: 0"

# ---- serve: start-up failures ----
run 2 serve --bogus
has "$WORK/err" "unknown option" "serve --bogus"
run 2 serve --port 70000
has "$WORK/err" "--port must be 0..65535, not '70000'" "serve --port 70000"
run 2 serve --threads 0
has "$WORK/err" "--threads must be 1..1024" "serve --threads 0"
run 2 serve --trusted-proxy 10.0.0.0/8,proxy.local
has "$WORK/err" "'proxy.local' is not an address or a block" "serve --trusted-proxy with a host name"
CATDOG_TRUSTED_PROXY=10.0.0.0/40 run 2 serve
has "$WORK/err" "'10.0.0.0/40' is not an address or a block" "CATDOG_TRUSTED_PROXY with a bad block"
run 2 serve --port 0 leftover
has "$WORK/err" "unexpected argument 'leftover'" "serve with an argument"
ok "serve: bad options and values are usage errors (2) naming the problem"

# The port in use: another socket holds it (Python keeps it listening until
# its stdin closes, so no sleep is involved).
mkfifo "$WORK/hold"
python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()' <"$WORK/hold" >"$WORK/port" &
HOLDER=$!
exec 7>"$WORK/hold"
for _ in $(seq 1 200); do [ -s "$WORK/port" ] && break; sleep 0.05; done
BUSY=$(cat "$WORK/port")
[ -n "$BUSY" ] || fail "no port from the holder"
run 1 serve --port "$BUSY" --models "$WORK/none" --upload-dir "$WORK/up" --db "$WORK/busy.db"
has "$WORK/err" "^catdog: serve: cannot listen on 127.0.0.1:$BUSY: .*Address already in use" "port in use"
exec 7>&-
wait "$HOLDER"
ok "serve: the port in use: exit 1, the port and the reason named"

: >"$WORK/a-file"
run 1 serve --port 0 --models "$WORK/none" --upload-dir "$WORK/a-file/up" --db "$WORK/x.db"
has "$WORK/err" "^catdog: serve: cannot create upload folder $WORK/a-file/up: Not a directory$" "upload folder"
ok "serve: an upload folder that cannot be made: exit 1, named with the reason"

# ---- serve: a models path that is a file, then SIGINT ----
MODELS="$WORK/a-file"
start_server
grep -q "model binary.h5: $WORK/a-file/binary.h5: Not a directory; serving the built-in copy instead" \
    "$WORK/server.err" || fail "the unusable models folder is not named: $(cat "$WORK/server.err")"
P=$(photo jpeg 160 120 1)
req POST /api/v1/predict -F "inputfile=@$P"
expect_status 200 "an upload to the built-in model"
json_check 'j["id"] is not None' "recorded"
ok "serve: a models path that is a file: the built-in copy is served, the log says why"
kill -INT "$SERVER_PID"
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
[ $rc -eq 0 ] || fail "serve exited with status $rc after SIGINT"
grep -q '^catdog serve: SIGINT received, finishing requests in flight$' "$WORK/server.err" || fail "SIGINT not logged"
grep -q '^catdog serve: stopped$' "$WORK/server.err" || fail "the stop is not logged"
no_sanitizer_report "$WORK/server.err" "serve"
left=$(find "$WORK/up" -name '.*' ! -name . ; ls "$WORK" | grep -E '\.db-(wal|shm|journal)$' || true)
[ -z "$left" ] || fail "temporaries left after SIGINT: $left"
[ -f "$WORK/up/$(sha256_of "$P").jpg" ] || fail "the photo is gone"
ok "serve: SIGINT: logged, exit 0, no temporaries left (photos, SQLite)"

# ---- train: Ctrl-C twice ----
# A small dataset of fixture photos; the reference backend at 150x150 with 16
# photos a step keeps a step long (seconds), so the second Ctrl-C lands while
# the first one's graceful stop is still waiting for the step to end.
for part in train validation; do
    for c in cats dogs; do
        mkdir -p "$WORK/data/$part/$c"
        for i in $(seq 1 16); do
            cp "$(photo jpeg 160 160 $((i * 4 + ${#c} + ${#part})))" "$WORK/data/$part/$c/$i.jpg"
        done
    done
done
"$CATDOG_BIN" train --data "$WORK/data" --out "$WORK/m.h5" --backend ref --img-size 150 --batch 16 \
    --threads 1 --epochs 2 >"$WORK/train.out" 2>"$WORK/train.err" &
TRAIN=$!
# Wait for the first step to end: the second is then running.
for _ in $(seq 1 3000); do
    grep -q 'step 1/' "$WORK/train.out" && break
    kill -0 "$TRAIN" 2>/dev/null || break
    sleep 0.05
done
grep -q 'step 1/' "$WORK/train.out" || fail "training did not get to its first step: $(cat "$WORK/train.out" "$WORK/train.err")"
kill -INT "$TRAIN"
# The handler says it will stop gracefully: the first signal is taken.
for _ in $(seq 1 1200); do
    grep -q 'Ctrl-C again to stop at once' "$WORK/train.err" && break
    kill -0 "$TRAIN" 2>/dev/null || break
    sleep 0.05
done
grep -q 'Ctrl-C again to stop at once' "$WORK/train.err" || fail "the first Ctrl-C is not acknowledged: $(cat "$WORK/train.err")"
kill -INT "$TRAIN"
rc=0
wait "$TRAIN" || rc=$?
[ $rc -eq 3 ] || fail "a second Ctrl-C: exit status $rc, expected 3; $(cat "$WORK/train.out" "$WORK/train.err")"
grep -q '^catdog train: second Ctrl-C: stopped at once without saving' "$WORK/train.err" ||
    fail "no message for the second Ctrl-C: $(cat "$WORK/train.err")"
! grep -q 'Interrupted after' "$WORK/train.out" || fail "the graceful stop ran anyway"
! grep -q 'step 2/' "$WORK/train.out" || fail "the step in progress was finished"
no_sanitizer_report "$WORK/train.err" "train"
saved=$(ls "$WORK" | grep -E '^m\.' || true)
[ -z "$saved" ] || fail "files saved after a second Ctrl-C: $saved"
ok "train: the first Ctrl-C is acknowledged, the second stops at once (exit 3), nothing saved"
echo "all $N_CHECKS checks passed"
