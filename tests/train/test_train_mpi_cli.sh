#!/usr/bin/env bash
# tests/train/test_train_mpi_cli.sh - `mpirun -np 2 catdog train` from the
# command line: exits 0, only rank 0 prints (one summary line) and writes (the
# model, checkpoint, history with one row per epoch), the model records
# catdog_world_size = 2 and `catdog info` shows it.  Skips (77) without
# mpirun, without an MPI build, or without ../shared.
set -u
BIN=${CATDOG_BIN:?CATDOG_BIN not set}
SRC=${CATDOG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SHARED=${CATDOG_SHARED:-$SRC/../shared}
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: mpirun not found (install openmpi-bin)"; exit 77; }
[ -f "$SHARED/README.md" ] || { echo "SKIP: ../shared not found (set CATDOG_SHARED to the shared folder)"; exit 77; }
tmp=$(mktemp -d /tmp/catdog-train-mpi.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for c in cat dog; do
  mkdir -p "$tmp/d/train/${c}s" "$tmp/d/validation/${c}s"
  for i in $(seq 0 15); do ln -s "$SHARED/data/dogs-vs-cats/train/$c.$i.jpg" "$tmp/d/train/${c}s/"; done
  for i in $(seq 16 23); do ln -s "$SHARED/data/dogs-vs-cats/train/$c.$i.jpg" "$tmp/d/validation/${c}s/"; done
done
root=()
[ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
OMP_NUM_THREADS=1 mpirun -np 2 --oversubscribe "${root[@]}" "$BIN" train --data "$tmp/d" --out "$tmp/m.h5" \
  --img-size 64 --batch 8 --epochs 2 --threads 1 -q >"$tmp/log" 2>&1; rc=$?
if grep -q "built without MPI" "$tmp/log"; then echo "SKIP: catdog was built without MPI"; exit 77; fi
[ $rc = 0 ] || { cat "$tmp/log"; fail "mpirun -np 2 catdog train exited $rc"; }
[ "$(grep -c '^Best epoch' "$tmp/log")" = 1 ] || { cat "$tmp/log"; fail "rank 0 alone should print the summary"; }
[ -s "$tmp/m.h5" ] && [ -s "$tmp/m.last.h5" ] || fail "no model or checkpoint"
[ "$(wc -l <"$tmp/m.history.csv")" = 3 ] || fail "history should have a header and 2 epochs (rank 0 only)"
"$BIN" info "$tmp/m.h5" | grep -q "Trained on: 2 MPI ranks" || fail "info does not show the 2 ranks"
echo "PASS"
