#!/usr/bin/env bash
# bench/run.sh BUILD_DIR [PATTERN] - catdog's speed benchmark (`make bench`).
#
# Builds bench/bench_engine.c against BUILD_DIR's library, then for each
# configuration runs catdog's oneDNN engine and the same network in PyTorch
# (Debian's python3-torch, /usr/bin/python3) one after the other, and prints a
# table: median and best milliseconds per call of each, images per second, and
# PyTorch's median time divided by catdog's (> 1: catdog is faster).
#   - inference: binary CNN at 150x150 and SqueezeNet 1.1 (no top) at 224x224,
#     batch 1 (latency) and batch 32 (throughput), 1 and 2 threads;
#   - training: one Adam step on the binary CNN, batch 32 at 150x150, 1 and 2
#     threads, and the compute time of an epoch over a 11,200-image training
#     split (70 % of 16,000) at that speed.
# PATTERN (a grep -E pattern over "MODE ARCH SIZE BATCH THREADS") selects
# configurations; CATDOG_BENCH_SECONDS sets the measuring time of each (3).
# Timings on a shared machine are noisy: the median is the figure to compare.
set -euo pipefail
BUILD=${1:-build}
PATTERN=${2:-.}
SECS=${CATDOG_BENCH_SECONDS:-3}
cd "$(dirname "$0")/.."

link="$BUILD/CMakeFiles/catdog.dir/link.txt"
if [ ! -f "$BUILD/libcatdog_lib.a" ] || [ ! -f "$link" ]; then
  echo "bench: build the project first (make build)" >&2
  exit 1
fi
# Link against exactly what the catdog program links (libraries after the archive).
libs=$(sed 's/.*libcatdog_lib\.a//' "$link")
# shellcheck disable=SC2086
cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -Isrc bench/bench_engine.c \
  -o "$BUILD/bench_engine" "$BUILD/libcatdog_lib.a" $libs

PY=/usr/bin/python3
have_torch=1
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "bench: PyTorch not importable by $PY (CATDOG_BENCH_DEPS=1 scripts/install-deps.sh); catdog only" >&2
  have_torch=0
fi

configs=(
  "infer binary 150 1 1"  "infer binary 150 1 2"
  "infer binary 150 32 1" "infer binary 150 32 2"
  "infer squeezenet 224 1 1"  "infer squeezenet 224 1 2"
  "infer squeezenet 224 32 1" "infer squeezenet 224 32 2"
  "train binary 150 32 1" "train binary 150 32 2"
)

echo "catdog benchmark: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
echo "oneDNN $(dpkg-query -W -f='${Version}' libdnnl-dev 2>/dev/null || echo '?')," \
     "PyTorch $( [ $have_torch = 1 ] && "$PY" -c 'import torch; print(torch.__version__)' || echo 'absent')"
printf '\n%-6s %-10s %4s %5s %3s | %10s %9s %8s | %10s %9s %8s | %7s\n' \
  mode arch size batch thr "catdog ms" "best" "img/s" "torch ms" "best" "img/s" "speedup"
printf '%s\n' "-------------------------------------------------------------------------------------------------"
epoch=""
for cfg in "${configs[@]}"; do
  echo "$cfg" | grep -Eq -- "$PATTERN" || continue
  read -r mode arch size batch thr <<<"$cfg"
  c=$("$BUILD/bench_engine" $cfg "$SECS")
  t="torch $cfg - - 0"
  if [ $have_torch = 1 ]; then
    t=$("$PY" bench/bench_torch.py $cfg "$SECS")
  fi
  read -r _ _ _ _ _ _ cmed cbest _ <<<"$c"
  read -r _ _ _ _ _ _ tmed tbest _ <<<"$t"
  awk -v m="$mode" -v a="$arch" -v s="$size" -v b="$batch" -v th="$thr" \
      -v cm="$cmed" -v cb="$cbest" -v tm="$tmed" -v tb="$tbest" 'BEGIN {
    cips = b * 1000 / cm
    if (tm == "-") { tips = "-"; sp = "-" } else { tips = sprintf("%.1f", b * 1000 / tm); sp = sprintf("%.2fx", tm / cm) }
    printf "%-6s %-10s %4d %5d %3d | %10.2f %9.2f %8.1f | %10s %9s %8s | %7s\n", m, a, s, b, th, cm, cb, cips, tm, tb, tips, sp
  }'
  if [ "$mode" = train ]; then
    epoch+=$(awk -v b="$batch" -v th="$thr" -v cm="$cmed" -v tm="$tmed" 'BEGIN {
      steps = 11200 / b
      line = sprintf("  %d thread(s): catdog %.0f s", th, steps * cm / 1000)
      if (tm != "-") line = line sprintf(", PyTorch %.0f s", steps * tm / 1000)
      print line
    }')$'\n'
  fi
done
if [ -n "$epoch" ]; then
  echo
  echo "one epoch of training compute over 11,200 images (batch 32; image decoding not included):"
  printf '%s' "$epoch"
fi
