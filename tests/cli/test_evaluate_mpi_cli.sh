#!/usr/bin/env bash
# tests/cli/test_evaluate_mpi_cli.sh - `mpirun -np 3 catdog evaluate` prints
# what one process prints (speed aside): the same counts, confusion matrix,
# log loss and ROC AUC (computed over every photo, not a mean of the ranks'),
# text and JSON, with an unreadable photo listed once; rank 0 alone prints
# and writes the --report page.  37 small generated photos (uneven shards:
# 10 batches of 4 over 3 ranks) and the default model.  Skips (77) without
# mpirun or an MPI build, and in the sanitizer run.
set -u
BIN=${CATDOG_BIN:?CATDOG_BIN not set}
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -z "${ASAN_OPTIONS:-}" ] || { echo "SKIP: Open MPI's own leaks at MPI_Finalize fail LeakSanitizer (open-mpi/ompi#10048)"; exit 77; }
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: mpirun not found (install openmpi-bin)"; exit 77; }
tmp=$(mktemp -d /tmp/catdog-evaluate-mpi.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp/d" <<'PY' || fail "cannot generate the images (python3-pil)"
import os, random, sys
from PIL import Image
random.seed(4)
for cls, base, n in (("cats", 110, 19), ("dogs", 140, 18)):
    os.makedirs(f"{sys.argv[1]}/{cls}", exist_ok=True)
    for i in range(n):
        px = bytes(min(255, max(0, base + random.randint(-90, 90))) for _ in range(48 * 40 * 3))
        Image.frombytes("RGB", (48, 40), px).save(f"{sys.argv[1]}/{cls}/{i}.jpg")
open(f"{sys.argv[1]}/dogs/broken.jpg", "wb").write(b"not a jpeg")
PY
root=()
[ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
run_mpi() { OMP_NUM_THREADS=1 mpirun -np 3 --oversubscribe "${root[@]}" "$BIN" evaluate --data "$tmp/d" --batch 4 --threads 1 "$@"; }
"$BIN" evaluate --data "$tmp/d" --batch 4 --threads 1 >"$tmp/one.txt" 2>"$tmp/one.err" || { cat "$tmp/one.err"; fail "one process failed"; }
run_mpi --report "$tmp/report.html" >"$tmp/mpi.txt" 2>"$tmp/mpi.err"; rc=$?
if grep -q "built without MPI" "$tmp/mpi.err"; then echo "SKIP: catdog was built without MPI"; exit 77; fi
[ $rc = 0 ] || { cat "$tmp/mpi.err"; fail "mpirun -np 3 catdog evaluate exited $rc"; }
grep -q '^roc auc: *0\.[0-9]' "$tmp/one.txt" || { cat "$tmp/one.txt"; fail "no AUC in the single-process output"; }
grep -q 'unreadable: *1$\|1 unreadable' "$tmp/one.txt" || { cat "$tmp/one.txt"; fail "the broken photo is not counted"; }
# The report line is the only other difference.
diff <(grep -v '^speed:' "$tmp/one.txt") <(grep -v '^speed:\|^report:' "$tmp/mpi.txt") ||
    fail "mpirun -np 3 evaluate prints other figures than one process"
[ -s "$tmp/report.html" ] || fail "rank 0 wrote no report"
[ "$(grep -c '^model:' "$tmp/mpi.txt")" = 1 ] || fail "more than one rank printed"

"$BIN" evaluate --data "$tmp/d" --batch 4 --threads 1 --json >"$tmp/one.json" 2>/dev/null || fail "one process --json failed"
run_mpi --json >"$tmp/mpi.json" 2>"$tmp/mpi.err" || { cat "$tmp/mpi.err"; fail "mpirun --json failed"; }
/usr/bin/python3 - "$tmp/one.json" "$tmp/mpi.json" <<'PY' || fail "the JSON results differ"
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
assert len(a) == 1 and len(b) == 1, (len(a), len(b))
for o in a + b:
    o.pop("images_per_second"); o.pop("seconds")
assert a == b, (a, b)
assert a[0]["auc"] is not None and len(a[0]["unreadable"]) == 1, a
print(f"n {a[0]['n']}, auc {a[0]['auc']}, log loss {a[0]['log_loss']}: equal")
PY
echo "PASS"
