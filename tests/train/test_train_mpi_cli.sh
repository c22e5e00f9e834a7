#!/usr/bin/env bash
# tests/train/test_train_mpi_cli.sh - `mpirun -np 2 catdog train` from the
# command line: exits 0, only rank 0 prints (one summary line) and writes (the
# model, checkpoint, history with one row per epoch), the model records
# catdog_world_size = 2 and `catdog info` shows it; and the weights equal a
# single process's within 1e-5 (dnnl and ref backends).  Skips (77) without
# mpirun, without an MPI build, and in the sanitizer run.
set -u
BIN=${CATDOG_BIN:?CATDOG_BIN not set}
fail() { echo "FAIL: $*" >&2; exit 1; }
# build-asan gives every test ASAN_OPTIONS: Open MPI leaks at MPI_Finalize (open-mpi/ompi#10048).
[ -z "${ASAN_OPTIONS:-}" ] || { echo "SKIP: Open MPI's own leaks at MPI_Finalize fail LeakSanitizer (open-mpi/ompi#10048)"; exit 77; }
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: mpirun not found (install openmpi-bin)"; exit 77; }
tmp=$(mktemp -d /tmp/catdog-train-mpi.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# 16 + 8 small generated JPEGs a class (cats darker than dogs): no photos needed.
/usr/bin/python3 - "$tmp/d" <<'PY' || fail "cannot generate the images (python3-pil)"
import os, random, sys
from PIL import Image
random.seed(3)
for part, n in (("train", 16), ("validation", 8)):
    for cls, base in (("cats", 60), ("dogs", 180)):
        os.makedirs(f"{sys.argv[1]}/{part}/{cls}", exist_ok=True)
        for i in range(n):
            px = bytes(min(255, max(0, base + random.randint(-50, 50))) for _ in range(64 * 64 * 3))
            Image.frombytes("RGB", (64, 64), px).save(f"{sys.argv[1]}/{part}/{cls}/{i}.jpg")
PY
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

# The same run in one process (same seed, global batch, one thread): the binary
# CNN has dropout, whose masks each rank draws as the single process does for
# its slice (runner_set_slice), so the weights agree within 1e-5 relative (per
# array, in norm; only the order of float sums differs).  With --backend ref too.
for be in dnnl ref; do
    OMP_NUM_THREADS=1 mpirun -np 2 --oversubscribe "${root[@]}" "$BIN" train --data "$tmp/d" --out "$tmp/m2_$be.h5" \
      --img-size 32 --batch 8 --epochs 2 --threads 1 --backend $be -q >"$tmp/log2" 2>&1 || { cat "$tmp/log2"; fail "mpirun ($be)"; }
    "$BIN" train --data "$tmp/d" --out "$tmp/one_$be.h5" --img-size 32 --batch 8 --epochs 2 --threads 1 --backend $be -q \
      >"$tmp/log1" 2>&1 || { cat "$tmp/log1"; fail "one process ($be)"; }
    /usr/bin/python3 - "$tmp/m2_$be.h5" "$tmp/one_$be.h5" <<'PY' || fail "mpirun -np 2 and one process differ ($be)"
import sys
import h5py, numpy as np
def weights(path):
    out = {}
    with h5py.File(path, "r") as f:
        f["model_weights"].visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
a, b = weights(sys.argv[1]), weights(sys.argv[2])
assert a.keys() == b.keys() and len(a) == 10, sorted(a)
worst = max(np.linalg.norm(a[k].astype(float) - b[k]) / np.linalg.norm(b[k].astype(float)) for k in a)
assert worst <= 1e-5, worst
print(f"binary CNN with dropout, 2 ranks vs 1 process: worst relative difference {worst:.2e}")
PY
done
echo "PASS"
