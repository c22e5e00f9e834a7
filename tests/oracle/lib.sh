# lib.sh - shared by the oracle tests (tests/oracle/test_*.sh).  Sourced, not run.
#
# The oracle is keras_reader.py: h5py + PyTorch + Pillow, no catdog code.  Its
# modules come from Debian (python3-h5py, python3-torch, python3-pil, installed
# by scripts/install-deps.sh), so a missing one is a failure, not a skip; only
# an absent ../shared (the photos) skips, with exit 77.
set -euo pipefail
BIN=${CATDOG_BIN:?CATDOG_BIN must name the catdog program}
SRC=${CATDOG_SOURCE_DIR:?CATDOG_SOURCE_DIR must name the source tree}
SHARED=${CATDOG_SHARED:-$SRC/../shared}
ORACLE=$SRC/tests/oracle
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; exit 1; }

"$PY" -c 'import h5py, numpy, torch, PIL' 2>/dev/null ||
  fail "the oracle needs $PY with h5py, numpy, torch and PIL (Debian: python3-h5py python3-numpy python3-torch python3-pil; scripts/install-deps.sh installs them)"
if [ ! -d "$SHARED/data/dogs-vs-cats/train" ]; then
  echo "SKIP: $SHARED/data/dogs-vs-cats/train not found (set CATDOG_SHARED to the shared folder)"
  exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/catdog-oracle.XXXXXX")
trap 'rm -rf "$T"' EXIT

# Twelve real photos, six of each class, spread over the data set.
PHOTOS=()
for i in 0 1 2 3 4 5; do
  PHOTOS+=("$SHARED/data/dogs-vs-cats/train/cat.$((i * 1333)).jpg"
           "$SHARED/data/dogs-vs-cats/train/dog.$((i * 1333 + 5)).jpg")
done

# The P(dog) tolerance between catdog and the reader.  Measured (12 photos
# each): binary.h5 max 6.6e-7, exported transfer file 2.5e-7 — the JSON
# carries 6 significant digits, so up to 5e-7 of that is print rounding.
# 1e-5 (the bound) is 15x the largest measured difference; a real
# fault moves P(dog) by far more (the transposed kernel below: see its test).
TOL=1e-5

# oracle CATDOG_MODEL READER_MODEL [--disagree]: runs oracle_check.py on PHOTOS.
oracle() {
  "$PY" "$ORACLE/oracle_check.py" "$BIN" "$1" "$2" "$TOL" "${@:3}" "${PHOTOS[@]}"
}
