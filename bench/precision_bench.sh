#!/usr/bin/env bash
# bench/precision_bench.sh BUILD_DIR [PATTERN] - float32 vs bf16 vs int8
# inference of the shipped models, next to ONNX Runtime (float32) on the same
# networks exported to ONNX, in one run (not a test: nothing asserts a time).
#
#   - catdog: bench/bench_engine.c on models/binary.int8.h5 (binary CNN,
#     150x150) and models/transfer.int8.h5 (SqueezeNet 1.1 + head, 224x224;
#     its backbone weights are looked up as catdog predict does), each at
#     --precision f32, bf16 and int8 (the files carry their int8 calibration;
#     f32/bf16 run the same float weights);
#   - ONNX Runtime: npm onnxruntime-node (bench/ort_bench.js) on
#     `catdog export --out x.onnx` of the float models (bench/out/).
# Batch 1 (latency) and 32 (throughput), 2 threads by default (CATDOG_BENCH_THREADS).
# Prints median and best ms per call, images/s, and ORT's median / catdog's
# (> 1: catdog is faster).  CATDOG_BENCH_SECONDS sets each measurement (3).
# PATTERN (grep -E over "MODEL BATCH") selects configurations.
set -euo pipefail
BUILD=${1:-build}
PATTERN=${2:-.}
SECS=${CATDOG_BENCH_SECONDS:-3}
THR=${CATDOG_BENCH_THREADS:-2}
cd "$(dirname "$0")/.."

link="$BUILD/CMakeFiles/catdog.dir/link.txt"
if [ ! -f "$BUILD/libcatdog_lib.a" ] || [ ! -f "$link" ]; then
  echo "bench: build the project first (make build)" >&2
  exit 1
fi
libs=$(sed 's/.*libcatdog_lib\.a//' "$link")
# shellcheck disable=SC2086
cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -Isrc bench/bench_engine.c \
  -o "$BUILD/bench_engine" "$BUILD/libcatdog_lib.a" $libs

mkdir -p bench/out
# models/transfer.int8.h5 is shipped (head-only, as transfer.h5); made here as
# README says if a checkout lacks it.
if [ ! -f models/transfer.int8.h5 ]; then
  shared=${CATDOG_SHARED:-../shared}
  CATDOG_WEIGHTS_DIR=$shared/weights "$BUILD/catdog" quantize --model models/transfer.h5 \
    --calibrate "$shared/data/dogs-vs-cats/train" --out models/transfer.int8.h5 >/dev/null
fi
for m in binary transfer; do
  [ -f "bench/out/$m.onnx" ] && [ "bench/out/$m.onnx" -nt "models/$m.h5" ] ||
    "$BUILD/catdog" export --model "models/$m.h5" --out "bench/out/$m.onnx" >/dev/null
done
have_ort=1
node -e "require('./node_modules/onnxruntime-node')" 2>/dev/null || {
  echo "bench: onnxruntime-node missing (npm install --ignore-scripts); catdog only" >&2
  have_ort=0
}

echo "precision benchmark: $(nproc) cores, $THR threads, $(uptime | sed 's/.*load average/load average/')"
grep -o -m1 'avx512_vnni\|avx512_bf16' /proc/cpuinfo >/dev/null &&
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); flags: $(grep -o -m1 'avx512_vnni' /proc/cpuinfo) $(grep -o -m1 'avx512_bf16' /proc/cpuinfo)"
printf '\n%-9s %5s | %-5s %9s %9s %9s | %9s\n' model batch prec "ms" "best" "img/s" "ORT/catdog"
printf '%s\n' "----------------------------------------------------------------------"
for cfg in "binary 150 1" "binary 150 32" "transfer 224 1" "transfer 224 32"; do
  read -r m size batch <<<"$cfg"
  echo "$m $batch" | grep -Eq -- "$PATTERN" || continue
  ort_ms=""
  if [ $have_ort = 1 ]; then
    read -r _ _ _ _ _ _ ort_ms ort_best _ < <(node bench/ort_bench.js "bench/out/$m.onnx" "$batch" "$THR" "$SECS" "$size")
    printf '%-9s %5s | %-5s %9.3f %9.3f %9.1f |\n' "$m" "$batch" ORT "$ort_ms" "$ort_best" \
      "$(echo "$batch * 1000 / $ort_ms" | bc -l)"
  fi
  for prec in f32 bf16 int8; do
    read -r _ _ _ _ _ _ ms best _ < <("$BUILD/bench_engine" infer "models/$m.int8.h5" "$size" "$batch" "$THR" "$SECS" "$prec")
    ratio=-
    [ -n "$ort_ms" ] && ratio=$(printf '%.2f' "$(echo "$ort_ms / $ms" | bc -l)")
    printf '%-9s %5s | %-5s %9.3f %9.3f %9.1f | %9s\n' "$m" "$batch" "$prec" "$ms" "$best" \
      "$(echo "$batch * 1000 / $ms" | bc -l)" "$ratio"
  done
done
