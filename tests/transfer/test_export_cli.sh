#!/usr/bin/env bash
# test_export_cli.sh - `catdog export` on the command line: --help, usage
# errors (exit 2), a missing backbone named in the error (exit 1), and the
# shipped models/transfer.h5 exported into one file that loads without any
# backbone lookup and holds the whole composed model.  Skips (77) without
# ../shared (the SqueezeNet weights).
set -euo pipefail
BIN=${CATDOG_BIN:?CATDOG_BIN must point at the catdog binary}
SRC=${CATDOG_SOURCE_DIR:?CATDOG_SOURCE_DIR must point at the source tree}
SHARED=${CATDOG_SHARED:-$SRC/../shared}
T=$(mktemp -d /tmp/catdog_export_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN" export --help | grep -q -- "--weights" || fail "--help does not describe --weights"
set +e
"$BIN" export --out "$T/x.h5" 2>"$T/err"; rc=$?
set -e
[ $rc = 2 ] || fail "missing --model: exit $rc, expected 2; stderr: $(cat "$T/err")"
set +e
"$BIN" export --model "$SRC/models/transfer.h5" --out "$SRC/models/transfer.h5" 2>"$T/err"; rc=$?
set -e
[ $rc = 2 ] || fail "--out equal to --model: exit $rc, expected 2; stderr: $(cat "$T/err")"

# No backbone anywhere: exit 1, the message names the weights file and the search.
mkdir -p "$T/home" "$T/empty" "$T/cwd/sub"
set +e
(cd "$T/cwd/sub" && HOME="$T/home" CATDOG_WEIGHTS_DIR="$T/empty" \
  "$BIN" export --model "$SRC/models/transfer.h5" --out "$T/x.h5") 2>"$T/err"; rc=$?
set -e
[ $rc = 1 ] || fail "missing backbone: exit $rc, expected 1; stderr: $(cat "$T/err")"
grep -q "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5 not found" "$T/err" || { cat "$T/err"; fail "message"; }
grep -q "$T/empty" "$T/err" || fail "the message does not list \$CATDOG_WEIGHTS_DIR"
[ ! -e "$T/x.h5" ] || fail "a failed export wrote a file"

W="$SHARED/weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"
if [ ! -f "$W" ]; then
  echo "SKIP: $W not found (set CATDOG_SHARED to the shared folder)"
  exit 77
fi
"$BIN" export --model "$SRC/models/transfer.h5" --weights "$W" --out "$T/full.h5" >"$T/out"
grep -Eq "985665 parameters: [0-9]+ trainable, [0-9]+ non-trainable" "$T/out" || { cat "$T/out"; fail "counts"; }
# The exported file needs no backbone: info works with the search path empty.
(cd "$T/cwd/sub" && HOME="$T/home" CATDOG_WEIGHTS_DIR="$T/empty" "$BIN" info "$T/full.h5") >"$T/info"
grep -q "squeezenet (Model)" "$T/info" || { cat "$T/info"; fail "no nested squeezenet in the summary"; }
grep -q "Total params: 985,665" "$T/info" || { cat "$T/info"; fail "total"; }
grep -q "Input: 224x224x3" "$T/info" || fail "input size"
grep -qi "caffe" "$T/info" || fail "preprocessing"
echo "ok"
