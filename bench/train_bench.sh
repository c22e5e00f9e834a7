#!/usr/bin/env bash
# bench/train_bench.sh - training throughput of the binary CNN: catdog (oneDNN)
# against the same step in PyTorch (Debian python3-torch), in one run, and the
# wall time of one epoch over the training split.
#
#   bench/train_bench.sh [BUILD_DIR] [STEPS]      (defaults: build, 20)
#
# Environment: THREADS (default: all cores), BATCH (32), IMG (150),
# SHARED (../shared: used for the epoch timing; skipped when absent),
# EPOCH=0 to skip the epoch timing.  Prints a summary line per measurement and
# the ratio catdog/PyTorch.  A benchmark, not a test: nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
STEPS=${2:-20}
THREADS=${THREADS:-$(nproc)}
BATCH=${BATCH:-32}
IMG=${IMG:-150}
SHARED=${SHARED:-../shared}
BIN="$BUILD/catdog"
[ -x "$BIN" ] || { echo "train_bench: $BIN not built (make build)" >&2; exit 1; }

echo "== training step: batch $BATCH, ${IMG}x${IMG}, Adam, $THREADS threads, $STEPS steps"
cd_line=$("$BIN" train --arch binary --benchmark "$STEPS" --batch "$BATCH" --img-size "$IMG" \
          --optimizer adam --threads "$THREADS")
echo "$cd_line"
cd_ips=$(sed -n 's/.* \([0-9.]*\) images\/s$/\1/p' <<<"$cd_line")

if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  t_line=$(OMP_NUM_THREADS=$THREADS /usr/bin/python3 bench/train_torch.py --batch "$BATCH" \
           --img-size "$IMG" --steps "$STEPS" --threads "$THREADS")
  echo "$t_line"
  t_ips=$(sed -n 's/.* \([0-9.]*\) images\/s$/\1/p' <<<"$t_line")
  awk -v a="$cd_ips" -v b="$t_ips" 'BEGIN { printf "ratio catdog/pytorch: %.2fx\n", a / b }'
else
  echo "PyTorch not installed (apt-get install python3-torch): no ratio"
fi

if [ "${EPOCH:-1}" != 0 ] && [ -d "$SHARED/data/dogs-vs-cats/train" ]; then
  tmp=$(mktemp -d /tmp/catdog-train-bench.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
  "$BIN" split --source "$SHARED/data/dogs-vs-cats/train" --dest "$tmp/split" --seed 42 >/dev/null
  n=$(find "$tmp/split/train" -name '*.jpg' | wc -l)
  echo "== one epoch over the training split ($n images, batch $BATCH, decoding included, then validation)"
  start=$(date +%s.%N)
  "$BIN" train --data "$tmp/split" --out "$tmp/m.h5" --epochs 1 --batch "$BATCH" --img-size "$IMG" \
        --threads "$THREADS" --quiet >/dev/null
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v n="$n" 'BEGIN { printf "one epoch: %.1f s wall (%.1f images/s including decode)\n", e - s, n / (e - s) }'
  sed -n '2p' "$tmp/m.history.csv" | awk -F, '{ printf "history: train+validation %.1f s, val_acc %.4f\n", $7, $5 }'
else
  echo "(epoch timing skipped: $SHARED/data/dogs-vs-cats/train not found or EPOCH=0)"
fi
