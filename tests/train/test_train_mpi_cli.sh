#!/usr/bin/env bash
# tests/train/test_train_mpi_cli.sh - `mpirun -np 2 catdog train` from the
# command line: exits 0, only rank 0 prints (one summary line) and writes (the
# model, checkpoint, history with one row per epoch), the model records
# catdog_world_size = 2 and `catdog info` shows it; the weights equal a
# single process's within 1e-5 (dnnl and ref backends); and validation, which
# each rank runs on its share of the validation batches (17 photos, batches
# 8 + 8 + 1: rank 0 one, rank 1 two), gives every epoch the single process's
# val_loss, val_accuracy and exact val_auc (within 1e-6) and the same
# decisions (improved, best epoch); and the gradient sums overlapped with the
# backward pass give --no-overlap's weights bit for bit; --mixup/--cutmix, which
# pair photos across the ranks' slices, train as one process.  Skips (77) without
# mpirun, without an MPI build, and in the sanitizer run.
set -u
BIN=${CATDOG_BIN:?CATDOG_BIN not set}
fail() { echo "FAIL: $*" >&2; exit 1; }
# build-asan gives every test ASAN_OPTIONS: Open MPI leaks at MPI_Finalize (open-mpi/ompi#10048).
[ -z "${ASAN_OPTIONS:-}" ] || { echo "SKIP: Open MPI's own leaks at MPI_Finalize fail LeakSanitizer (open-mpi/ompi#10048)"; exit 77; }
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: mpirun not found (install openmpi-bin)"; exit 77; }
tmp=$(mktemp -d /tmp/catdog-train-mpi.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# 16 + 8 small generated JPEGs a class (cats darker than dogs; one more
# validation cat): no photos needed.
/usr/bin/python3 - "$tmp/d" <<'PY' || fail "cannot generate the images (python3-pil)"
import os, random, sys
from PIL import Image
random.seed(3)
for part, n in (("train", 16), ("validation", 8)):
    for cls, base in (("cats", 60), ("dogs", 180)):
        os.makedirs(f"{sys.argv[1]}/{part}/{cls}", exist_ok=True)
        for i in range(n + (part == "validation" and cls == "cats")):
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
# --monitor val_auc: the kept epoch is decided on the gathered exact AUC.
for be in dnnl ref; do
    OMP_NUM_THREADS=1 mpirun -np 2 --oversubscribe "${root[@]}" "$BIN" train --data "$tmp/d" --out "$tmp/m2_$be.h5" \
      --img-size 32 --batch 8 --epochs 2 --threads 1 --backend $be -q --monitor val_auc --log-json "$tmp/m2_$be.json" \
      >"$tmp/log2" 2>&1 || { cat "$tmp/log2"; fail "mpirun ($be)"; }
    "$BIN" train --data "$tmp/d" --out "$tmp/one_$be.h5" --img-size 32 --batch 8 --epochs 2 --threads 1 --backend $be -q \
      --monitor val_auc --log-json "$tmp/one_$be.json" >"$tmp/log1" 2>&1 || { cat "$tmp/log1"; fail "one process ($be)"; }
    /usr/bin/python3 - "$tmp/m2_$be" "$tmp/one_$be" <<'PY' || fail "validation under mpirun -np 2 differs from one process ($be)"
import csv, json, sys
def run(stem):
    rows = [json.loads(l) for l in open(stem + ".json")]
    hist = list(csv.DictReader(open(stem + ".history.csv")))
    return rows, hist
(a, ha), (b, hb) = run(sys.argv[1]), run(sys.argv[2])
assert len(a) == len(b) == 2 and len(ha) == len(hb) == 2, (len(a), len(b))
for x, y in zip(a, b):
    for k in ("val_loss", "val_accuracy", "val_auc"):
        assert x[k] is not None and abs(x[k] - y[k]) <= 1e-6, (x["epoch"], k, x[k], y[k])
    assert x["improved"] == y["improved"], (x["epoch"], x["improved"], y["improved"])
for x, y in zip(ha, hb):
    for k in ("val_loss", "val_accuracy"):
        assert abs(float(x[k]) - float(y[k])) <= 1e-6, (x["epoch"], k, x[k], y[k])
print("validation sharded over 2 ranks: val_loss, val_accuracy, val_auc and decisions as one process's")
PY
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

# --mixup / --cutmix pair photo i with photo n-1-i of the global batch, across
# the ranks' slices: every rank reads the whole batch and mixes it as one
# process does before taking its slice, so the training loss and accuracy of
# every epoch and the weights are one process's (within float sums' order).
OMP_NUM_THREADS=1 mpirun -np 2 --oversubscribe "${root[@]}" "$BIN" train --data "$tmp/d" --out "$tmp/mix2.h5" \
  --img-size 32 --batch 8 --epochs 2 --threads 1 -q --mixup 0.4 --cutmix 1.0 --log-json "$tmp/mix2.json" \
  >"$tmp/logm2" 2>&1 || { cat "$tmp/logm2"; fail "mpirun --mixup --cutmix"; }
"$BIN" train --data "$tmp/d" --out "$tmp/mix1.h5" --img-size 32 --batch 8 --epochs 2 --threads 1 -q --mixup 0.4 \
  --cutmix 1.0 --log-json "$tmp/mix1.json" >"$tmp/logm1" 2>&1 || { cat "$tmp/logm1"; fail "one process --mixup --cutmix"; }
/usr/bin/python3 - "$tmp/mix2" "$tmp/mix1" <<'PY' || fail "--mixup/--cutmix under mpirun -np 2 differ from one process"
import json, sys
import h5py, numpy as np
a, b = ([json.loads(l) for l in open(s + ".json")] for s in sys.argv[1:])
assert len(a) == len(b) == 2
for x, y in zip(a, b):
    assert x["mixup"] == y["mixup"] == np.float32(0.4) and x["cutmix"] == y["cutmix"] == 1.0, (x, y)
    for k in ("loss", "accuracy", "val_loss"):
        assert abs(x[k] - y[k]) <= 1e-6, (x["epoch"], k, x[k], y[k])
def weights(path):
    out = {}
    with h5py.File(path, "r") as f:
        f["model_weights"].visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
wa, wb = weights(sys.argv[1] + ".h5"), weights(sys.argv[2] + ".h5")
worst = max(np.linalg.norm(wa[k].astype(float) - wb[k]) / np.linalg.norm(wb[k].astype(float)) for k in wa)
assert worst <= 1e-5, worst
print(f"mixup/cutmix, 2 ranks vs 1 process: losses within 1e-6, weights {worst:.2e}")
PY

# The gradient sums overlapped with the backward pass (the default: 1 MiB
# buckets, here the two dense layers' 1.6 MB started while the convolutions'
# gradients are computed, then the convolutions') against --no-overlap (one
# MPI_Allreduce after the pass): with 2 ranks every element is a + b either
# way, so the weights are the same bit for bit.  96 px: the binary CNN's
# 438,369 weights.
for mode in overlap no-overlap; do
    flag=(); [ $mode = no-overlap ] && flag=(--no-overlap)
    OMP_NUM_THREADS=1 mpirun -np 2 --oversubscribe "${root[@]}" "$BIN" train --data "$tmp/d" --out "$tmp/ov_$mode.h5" \
      --img-size 96 --batch 8 --epochs 1 --threads 1 -q "${flag[@]}" >"$tmp/log_$mode" 2>&1 || { cat "$tmp/log_$mode"; fail "mpirun ($mode)"; }
done
grep -q "exposed, overlapped with the backward pass" "$tmp/log_overlap" || { cat "$tmp/log_overlap"; fail "the default should overlap"; }
grep -q "after the backward pass" "$tmp/log_no-overlap" || { cat "$tmp/log_no-overlap"; fail "--no-overlap should not"; }
/usr/bin/python3 - "$tmp/ov_overlap.h5" "$tmp/ov_no-overlap.h5" <<'PY' || fail "overlapped and blocking gradient sums give different weights"
import sys
import h5py, numpy as np
def weights(path):
    out = {}
    with h5py.File(path, "r") as f:
        f["model_weights"].visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
a, b = weights(sys.argv[1]), weights(sys.argv[2])
assert a.keys() == b.keys() and len(a) == 10, sorted(a)
assert sum(v.size for v in a.values()) * 4 > 1 << 20  # more than one bucket
same = [k for k in a if np.array_equal(a[k], b[k])]
assert len(same) == len(a), sorted(set(a) - set(same))
print("gradient sums overlapped with the backward pass == --no-overlap, bit for bit")
PY
echo "PASS"
