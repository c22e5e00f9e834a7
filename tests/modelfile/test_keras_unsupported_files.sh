#!/usr/bin/env bash
# test_keras_unsupported_files.sh - a file that is no Keras model gets an
# error naming what it is and what catdog reads, never just "not an HDF5
# file": a zip that is not a Keras archive, a PyTorch checkpoint (zip with
# data.pkl, and the older bare pickle), a TensorFlow SavedModel folder, a
# TensorFlow.js model.json, a Keras archive without its weights.
set -euo pipefail
BIN=${CATDOG_BIN:?CATDOG_BIN must point at the catdog binary}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/catdog_keras_unsupported.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$PY" - "$T" <<'PYEOF'
import sys, zipfile, os
t = sys.argv[1]
with zipfile.ZipFile(t + "/photos.zip", "w") as z:
    z.writestr("cat.txt", "not a model")
with zipfile.ZipFile(t + "/model.pt", "w") as z:   # torch.save's zip layout
    z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    z.writestr("archive/version", "3\n")
with open(t + "/legacy.pth", "wb") as f:            # torch.save(_use_new_zipfile_serialization=False)
    f.write(b"\x80\x02\x8a\x0alZ\xfc\x9cF\xf9 j\xa8P\x19.")
os.makedirs(t + "/saved_model/variables")
open(t + "/saved_model/saved_model.pb", "wb").write(b"\x08\x01")
open(t + "/model.json", "w").write('{"format": "layers-model", "modelTopology": {}}')
with zipfile.ZipFile(t + "/noweights.keras", "w") as z:
    z.writestr("config.json", '{"class_name": "Sequential", "config": {"layers": []}}')
    z.writestr("metadata.json", "{}")
PYEOF

expect() { # file, pattern
  set +e
  "$BIN" info "$1" >/dev/null 2>"$T/err"; rc=$?
  set -e
  [ $rc = 1 ] || fail "$1: exit $rc, expected 1; stderr: $(cat "$T/err")"
  grep -q -- "$2" "$T/err" || fail "$1: message '$(cat "$T/err")' lacks '$2'"
  grep -q "catdog reads Keras models" "$T/err" || [ "$3" = "-" ] ||
    fail "$1: message '$(cat "$T/err")' does not say what catdog reads"
  echo "ok: $(basename "$1"): $(cat "$T/err")"
}
expect "$T/photos.zip" "a zip archive but not a Keras archive (no config.json)"
expect "$T/model.pt" "a PyTorch checkpoint (zip with archive/data.pkl)"
expect "$T/legacy.pth" "a PyTorch checkpoint (Python pickle)"
expect "$T/saved_model" "a TensorFlow SavedModel folder"
expect "$T/model.json" "TensorFlow.js"
expect "$T/noweights.keras" "Keras archive without model.weights.h5" -
