#!/usr/bin/env bash
# test_fault_startup.sh - broken files at start-up (issue 6, §3): the model
# files missing, truncated, empty or swapped for garbage, and a corrupt
# database.  The server must say which file and why, in one line, never
# crash, and serve what is fine (web/registry.h):
#   - a broken transfer.h5: binary is served, transfer is listed as off;
#   - a broken or missing binary.h5: the copy built into the program is
#     served instead, and the log names the broken file and the reason;
#   - a corrupt, unopenable or newer-version database: verdicts still go out, unrecorded;
#     the reason is logged and counted in /metrics, /api/v1/history says 503.
# (With no model loadable at all the start-up fails: tests/web/test_registry.c,
# which can build a registry without the built-in copy.)
. "$(dirname "$0")/../web/lib.sh"
require_tools curl python3

make_model "$WORK/good"
GOOD="$WORK/good/binary.h5"
PHOTO=$(photo jpeg 100 80 1)

# serve_fails WHAT PATTERN: `catdog serve` with $MODELS must exit 1 (not be
# killed by a signal) and print PATTERN on stderr.
serve_fails() {
    local rc=0
    timeout 120 "$CATDOG_BIN" serve --port 0 --models "$MODELS" --upload-dir "$WORK/up" --db "${DB:-$WORK/catdog.db}" \
        ${BACKEND_ARGS[@]+"${BACKEND_ARGS[@]}"} >"$WORK/fail.out" 2>"$WORK/fail.err" || rc=$?
    [ "$rc" = 1 ] || fail "$1: exit status $rc (expected 1); stderr: $(cat "$WORK/fail.err")"
    grep -qE -- "$2" "$WORK/fail.err" || fail "$1: stderr lacks /$2/: $(cat "$WORK/fail.err")"
}

# A model folder holding binary.h5 = $1 and transfer.h5 = $2 ("-" = absent).
models() {
    MODELS="$WORK/m$((++N_MODELS))"
    mkdir -p "$MODELS"
    [ "$1" = - ] || cp "$1" "$MODELS/binary.h5"
    [ "$2" = - ] || cp "$2" "$MODELS/transfer.h5"
}
N_MODELS=0
head -c 100000 "$GOOD" >"$WORK/truncated.h5"
head -c 4096 /dev/urandom >"$WORK/garbage.h5"
: >"$WORK/empty.h5"
# Garbage behind a valid HDF5 signature: libhdf5 itself must refuse it.
{ printf '\211HDF\r\n\032\n'; head -c 4088 /dev/urandom; } >"$WORK/sig-garbage.h5"

# ---- a broken transfer.h5: one line naming it and why; binary served ----
for c in "truncated:truncated HDF5 file" "garbage:not an HDF5 file" "empty:not an HDF5 file \(empty\)" \
         "sig-garbage:HDF5 file cannot be opened|truncated HDF5 file"; do
    kind=${c%%:*} why=${c#*:}
    models "$GOOD" "$WORK/$kind.h5"
    start_server
    grep -qE "transfer model off: $MODELS/transfer.h5: ($why)" "$WORK/server.err" ||
        fail "transfer.h5 $kind: no line naming the file and /$why/: $(cat "$WORK/server.err")"
    req GET /api/v1/models
    expect_status 200 "models with a $kind transfer.h5"
    json_check '[m["name"] for m in j["models"]] == ["binary"]' "only binary is served"
    req POST /api/v1/predict -F "inputfile=@$PHOTO"
    expect_status 200 "predict with a $kind transfer.h5"
    req POST '/api/v1/predict?model=transfer' -F "inputfile=@$PHOTO"
    expect_status 404 "asking for the transfer model that is off"
    stop_server
    : >"$WORK/server.err"
done
ok "a truncated, garbage, empty or corrupt transfer.h5: named with the reason, binary still served"

# ---- a broken binary.h5: the built-in copy is served, the file and reason logged ----
# Does this program carry a built-in binary model?  (It does when built from
# the tree, which ships models/binary.h5.)
HAVE_BUILTIN=1
models - "$GOOD"
start_server
grep -q "no built-in copy" "$WORK/server.err" && HAVE_BUILTIN=0
stop_server
: >"$WORK/server.err"
for c in "truncated:truncated HDF5 file" "garbage:not an HDF5 file" "empty:not an HDF5 file \(empty\)" \
         "sig-garbage:HDF5 file cannot be opened|truncated HDF5 file" "folder:Is a directory"; do
    kind=${c%%:*} why=${c#*:}
    if [ "$kind" = folder ]; then
        models - "$GOOD"
        mkdir "$MODELS/binary.h5"
    else
        models "$WORK/$kind.h5" "$GOOD"
    fi
    start_server
    req GET /api/v1/models
    expect_status 200 "models with a $kind binary.h5"
    if [ $HAVE_BUILTIN = 1 ]; then
        grep -qE "model binary.h5: $MODELS/binary.h5: ($why).*; serving the built-in copy instead" "$WORK/server.err" ||
            fail "binary.h5 $kind: no line naming the file, /$why/ and the built-in copy: $(cat "$WORK/server.err")"
        json_check '[(m["name"], m["source"]) for m in j["models"]] == [("binary", "built-in models/binary.h5"), ("transfer", "'"$MODELS"'/transfer.h5")]' \
            "binary from the built-in copy, transfer from its file"
    else
        grep -qE "binary model off: $MODELS/binary.h5: ($why)" "$WORK/server.err" ||
            fail "binary.h5 $kind: no line naming the file and /$why/: $(cat "$WORK/server.err")"
        json_check '[m["name"] for m in j["models"]] == ["transfer"] and j["unavailable"][0]["name"] == "binary"' \
            "only transfer is served, binary listed as off"
    fi
    req POST /api/v1/predict -F "inputfile=@$PHOTO"
    expect_status 200 "predict with a $kind binary.h5"
    req POST '/api/v1/predict?model=transfer' -F "inputfile=@$PHOTO"
    expect_status 200 "the transfer model with a $kind binary.h5"
    stop_server
    : >"$WORK/server.err"
done
if [ $HAVE_BUILTIN = 1 ]; then
    ok "a truncated, garbage, empty or corrupt binary.h5 (or a folder): file and reason logged, the built-in copy and transfer.h5 served"
else
    ok "a truncated, garbage, empty or corrupt binary.h5 (or a folder): file and reason logged, transfer.h5 served"
fi

# ---- binary.h5 missing: the built-in copy, said so ----
if [ $HAVE_BUILTIN = 0 ]; then
    echo "# this program has no built-in binary model"
else
    models - -
    start_server
    grep -q "model binary .* from built-in models/binary.h5" "$WORK/server.err" ||
        fail "a missing binary.h5 is not replaced by the built-in copy: $(cat "$WORK/server.err")"
    req POST /api/v1/predict -F "inputfile=@$PHOTO"
    expect_status 200 "predict with the built-in model"
    stop_server
    : >"$WORK/server.err"
    ok "binary.h5 missing: the built-in copy is served, and the log says so"
fi

# ---- a corrupt or unopenable database: verdicts served, unrecorded, counted ----
metric() { req GET /metrics; sed -n "s/^$1 //p" "$WORK/body"; }
models "$GOOD" -
head -c 20000 /dev/urandom >"$WORK/corrupt.db"
cp "$WORK/corrupt.db" "$WORK/corrupt.db.orig"
mkdir "$WORK/dir.db"
# A history written by a newer catdog (schema version 99): refused by name with
# both versions and what to do, and left byte for byte as it was.
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("CREATE TABLE future(x)"); c.execute("PRAGMA user_version = 99"); c.commit()' \
    "$WORK/newer.db"
cp "$WORK/newer.db" "$WORK/newer.db.orig"
for c in "corrupt:$WORK/corrupt.db:file is not a database" "folder:$WORK/dir.db:" \
         "missing folder:$WORK/no/such/dir/catdog.db:" \
         "newer:$WORK/newer.db:has schema version 99, but this catdog knows versions up to 2: it was written by a newer catdog; run that newer catdog, or give this one another --db file"; do
    kind=${c%%:*} rest=${c#*:}
    db=${rest%%:*} why=${rest#*:}
    start_server --db "$db"
    grep -F "history off: " "$WORK/server.err" | grep -qF "database $db" ||
        fail "$kind database: no line naming $db: $(cat "$WORK/server.err")"
    [ -z "$why" ] || grep -qF "$why" "$WORK/server.err" ||
        fail "$kind database: the log lacks '$why': $(cat "$WORK/server.err")"
    req POST /api/v1/predict -F "inputfile=@$PHOTO"
    expect_status 200 "predict with a $kind database"
    json_check 'j["label"] in ("cat", "dog")' "a verdict with a $kind database"
    req POST /template/upload -F "inputfile=@$PHOTO"
    expect_status 200 "the upload form with a $kind database"
    req GET /api/v1/history
    expect_status 503 "the history API with a $kind database"
    json_check 'j["error"]["code"] == "db_unavailable" and "'"$db"'" in j["error"]["message"]' "503 names the database"
    req GET /history
    expect_status 503 "the history page with a $kind database"
    req GET /healthz
    expect_status 503 "healthz (readiness) with a $kind database"
    json_check 'j["history"] == "off" and j["status"] == "no_database" and j["ready"] is False and j["models"] == 1' "healthz says not ready: the history is off"
    req GET /livez
    expect_status 200 "livez with a $kind database (alive, only not ready)"
    [ "$(metric catdog_history_up)" = 0 ] || fail "$kind database: catdog_history_up is not 0"
    n=$(metric 'catdog_events_total{event="db_error"}')
    [ "${n:-0}" -ge 3 ] || fail "$kind database: db_error counted ${n:-0} times (start-up + 2 uploads expected)"
    grep -q "not recorded" "$WORK/server.err" || fail "$kind database: the unrecorded verdicts are not logged"
    stop_server
    : >"$WORK/server.err"
done
cmp -s "$WORK/corrupt.db" "$WORK/corrupt.db.orig" || fail "the corrupt database was modified"
cmp -s "$WORK/newer.db" "$WORK/newer.db.orig" || fail "the newer database was modified"
ok "a corrupt, folder, unreachable or newer-version database: verdicts served unrecorded, logged, counted (db_error, history_up 0), history 503"
echo "all $N_CHECKS checks passed"
