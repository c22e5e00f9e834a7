#!/usr/bin/env bash
# bench/transfer_bench.sh BUILD_DIR [N] [THREADS] - feature extraction speed of
# the transfer model's backbone: SqueezeNet 1.1 at 224x224 (the shipped transfer
# model's size) over the first N (default 512) photos of
# ../shared/data/dogs-vs-cats/train, run by catdog (bench/transfer_bench.c,
# oneDNN) and by PyTorch (bench/transfer_torch.py, Debian's python3-torch) one
# after the other in the same run, both end to end: file -> decode -> resize ->
# preprocess -> network -> pooled features, batch 32, THREADS (default 2)
# threads.  Prints images/s of each, the ratio, and how far apart their
# features are (same weights, same images).  A benchmark, not a test: timings
# on a shared machine are noisy.
set -euo pipefail
BUILD=${1:-build}
N=${2:-512}
THR=${3:-2}
SIZE=224
BATCH=32
cd "$(dirname "$0")/.."
SHARED=${CATDOG_SHARED:-../shared}
DATA="$SHARED/data/dogs-vs-cats/train"
W="$SHARED/weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"
if [ ! -d "$DATA" ] || [ ! -f "$W" ]; then
  echo "transfer bench: needs $DATA and $W" >&2
  exit 77
fi
link="$BUILD/CMakeFiles/catdog.dir/link.txt"
if [ ! -f "$BUILD/libcatdog_lib.a" ] || [ ! -f "$link" ]; then
  echo "transfer bench: build the project first (make build)" >&2
  exit 1
fi
libs=$(sed 's/.*libcatdog_lib\.a//' "$link")
# shellcheck disable=SC2086
cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -Isrc bench/transfer_bench.c \
  -o "$BUILD/transfer_bench" "$BUILD/libcatdog_lib.a" $libs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Cats and dogs alternating, the first N/2 of each.
paste -d '\n' <(ls "$DATA" | grep '^cat\.' | sort -t. -k2n | head -n $((N / 2))) \
              <(ls "$DATA" | grep '^dog\.' | sort -t. -k2n | head -n $((N / 2))) |
  sed "s|^|$(cd "$DATA" && pwd)/|" >"$tmp/list"
echo "transfer feature extraction: SqueezeNet 1.1 ${SIZE}x${SIZE}, $(wc -l <"$tmp/list") photos," \
     "batch $BATCH, $THR thread(s); $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
c=$("$BUILD/transfer_bench" "$tmp/list" $SIZE $BATCH "$THR" "$W" "$tmp/catdog.f32")
echo "$c"
if ! /usr/bin/python3 -c 'import torch, h5py, PIL' 2>/dev/null; then
  echo "transfer bench: PyTorch, h5py or PIL not importable by /usr/bin/python3; catdog only" >&2
  exit 0
fi
t=$(/usr/bin/python3 bench/transfer_torch.py "$tmp/list" $SIZE $BATCH "$THR" "$W" "$tmp/torch.f32")
echo "$t"
read -r _ _ _ cips <<<"$c"
read -r _ _ _ tips <<<"$t"
awk -v c="$cips" -v t="$tips" 'BEGIN { printf "catdog / PyTorch: %.2fx images/s\n", c / t }'
/usr/bin/python3 - "$tmp/catdog.f32" "$tmp/torch.f32" <<'PY'
import sys
import numpy as np
a, b = np.fromfile(sys.argv[1], np.float32), np.fromfile(sys.argv[2], np.float32)
if a.size != b.size:
    sys.exit("feature counts differ: %d vs %d" % (a.size, b.size))
d = np.abs(a - b)
print("features: max |catdog - torch| %.4g, mean %.4g (feature magnitude: mean %.3g, max %.3g)"
      % (d.max(), d.mean(), np.abs(b).mean(), np.abs(b).max()))
PY
