#!/usr/bin/env bash
# bench/onnx_bench.sh BUILD_DIR [PATTERN] - PyTorch classifiers imported from
# ONNX: catdog's engine against ONNX Runtime on the same .onnx files, in one
# run (not a test: nothing asserts a time).
#
#   - the files: torchvision resnet18 and mobilenet_v2 (random weights, 2-class
#     heads, 224x224, opset 13) exported by bench/onnx_torchvision.py into
#     bench/out/ (once; Debian's python3-torch and python3-torchvision);
#   - catdog: bench/bench_engine.c on the .onnx file (read as `catdog predict`
#     reads it: BatchNormalization folded, activations fused, float32);
#   - ONNX Runtime: npm onnxruntime-node (bench/ort_bench.js), float32,
#     graph optimizations on.
# Batch 1 and 32, 1 and 2 threads.  Prints median ms per image (per call /
# batch), the best call per image, and ORT's median / catdog's (> 1: catdog
# is faster); then each one's median CPU time per image (user + system, all
# its threads: what other processes on the cores inflate least; it counts
# spin-waiting threads too) and their ratio.  CATDOG_BENCH_SECONDS sets each measurement (default 2; after
# 3 warm-up calls, at least 5 calls).  PATTERN (grep -E over
# "MODEL BATCH THREADS") selects configurations.  On a machine whose cores
# other processes hold, run with OMP_WAIT_POLICY=passive (README, ONNX): the
# default spinning of catdog's OpenMP threads then costs more than it saves;
# ort_bench.js then turns ONNX Runtime's spinning off too
# (session.intra_op.allow_spinning 0), so both engines' threads wait alike.
set -euo pipefail
BUILD=${1:-build}
PATTERN=${2:-.}
SECS=${CATDOG_BENCH_SECONDS:-2}
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
if [ ! -f bench/out/resnet18.onnx ] || [ ! -f bench/out/mobilenet_v2.onnx ]; then
  /usr/bin/python3 bench/onnx_torchvision.py bench/out >/dev/null 2>&1 || {
    echo "bench: the torchvision export failed (Debian's python3-torch, python3-torchvision)" >&2
    exit 1
  }
fi
node -e "require('./node_modules/onnxruntime-node')" 2>/dev/null || {
  echo "bench: onnxruntime-node missing (npm install --ignore-scripts)" >&2
  exit 1
}

echo "ONNX benchmark: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}"
printf '\n%-13s %5s %3s | %12s %12s | %12s %12s | %10s | %9s %9s %7s\n' model batch thr \
  "ORT ms/img" "(best)" "catdog ms/img" "(best)" "ORT/catdog" "ORT cpu" "cd cpu" "ratio"
printf '%s\n' "------------------------------------------------------------------------------------------------------------------"
for m in resnet18 mobilenet_v2; do
  for batch in 1 32; do
    for thr in 1 2; do
      echo "$m $batch $thr" | grep -Eq -- "$PATTERN" || continue
      read -r _ _ _ _ _ _ ort_ms ort_best _ ort_cpu < <(node bench/ort_bench.js "bench/out/$m.onnx" "$batch" "$thr" "$SECS" 224)
      read -r _ _ _ _ _ _ cd_ms cd_best _ cd_cpu < <("$BUILD/bench_engine" infer "bench/out/$m.onnx" 224 "$batch" "$thr" "$SECS" f32)
      printf '%-13s %5s %3s | %12.3f %12.3f | %12.3f %12.3f | %10.2f | %9.3f %9.3f %7.2f\n' \
        "$m" "$batch" "$thr" \
        "$(echo "$ort_ms / $batch" | bc -l)" "$(echo "$ort_best / $batch" | bc -l)" \
        "$(echo "$cd_ms / $batch" | bc -l)" "$(echo "$cd_best / $batch" | bc -l)" \
        "$(echo "$ort_ms / $cd_ms" | bc -l)" "$(echo "$ort_cpu / $batch" | bc -l)" \
        "$(echo "$cd_cpu / $batch" | bc -l)" "$(echo "$ort_cpu / $cd_cpu" | bc -l)"
    done
  done
done
