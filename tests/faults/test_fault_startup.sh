#!/usr/bin/env bash
# test_fault_startup.sh - broken files at start-up (issue 6, §3): the model
# files missing, truncated, empty or swapped for garbage, and a corrupt
# database.  The server must say which file and why, in one line, and never
# crash; a broken optional model (transfer.h5) leaves the others served.
#
# As built (web/registry.h), binary.h5 is required: a broken binary.h5 stops
# the start-up (exit 1, file and reason named) even when transfer.h5 is fine,
# and only a missing one falls back to the built-in copy.  That is what is
# checked here; serving the other models instead is an open question for the
# web service (docs/SECURITY.md).
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

# ---- a broken binary.h5: start-up stops with the file and the reason ----
for c in "truncated:truncated HDF5 file" "garbage:not an HDF5 file" "empty:not an HDF5 file \(empty\)" \
         "sig-garbage:HDF5 file cannot be opened|truncated HDF5 file"; do
    kind=${c%%:*} why=${c#*:}
    models "$WORK/$kind.h5" "$GOOD"
    serve_fails "binary.h5 $kind" "$MODELS/binary.h5: ($why)"
done
models - "$GOOD"
mkdir "$MODELS/binary.h5"
serve_fails "binary.h5 a folder" "$MODELS/binary.h5: Is a directory"
ok "a truncated, garbage, empty or corrupt binary.h5 (or a folder): exit 1 naming the file and the reason"

# ---- binary.h5 missing: the built-in copy, said so ----
models - -
start_server
if grep -q "no built-in copy" "$WORK/server.err"; then
    echo "# this program has no built-in binary model"
else
    grep -q "model binary .* from built-in models/binary.h5" "$WORK/server.err" ||
        fail "a missing binary.h5 is not replaced by the built-in copy: $(cat "$WORK/server.err")"
    req POST /api/v1/predict -F "inputfile=@$PHOTO"
    expect_status 200 "predict with the built-in model"
    stop_server
    ok "binary.h5 missing: the built-in copy is served, and the log says so"
fi

# ---- a corrupt database ----
models "$GOOD" -
head -c 20000 /dev/urandom >"$WORK/corrupt.db"
DB="$WORK/corrupt.db" serve_fails "corrupt database" "database $WORK/corrupt.db: file is not a database"
# A database that is a folder, or in a folder that does not exist.
mkdir "$WORK/dir.db"
DB="$WORK/dir.db" serve_fails "database that is a folder" "database $WORK/dir.db"
DB="$WORK/no/such/dir/catdog.db" serve_fails "database in a missing folder" "database $WORK/no/such/dir/catdog.db"
ok "a corrupt or unopenable database at start-up: exit 1 naming the file and the reason"
echo "all $N_CHECKS checks passed"
