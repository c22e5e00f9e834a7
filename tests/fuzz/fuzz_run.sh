#!/usr/bin/env bash
# tests/fuzz/fuzz_run.sh HARNESS - one bounded libFuzzer run of build-fuzz/fuzz/fuzz_HARNESS.
#
# Used by the ctest tests tests/fuzz/test_run_<harness>.sh (short runs, part of
# `make test`) and by `make fuzz` (long runs).  It builds nothing: the fuzzers
# come from build-fuzz (`make fuzz-build`), the seeds from the normal build's
# fuzz_test_fuzz_seeds, which writes them.  Fails with a message when the
# fuzzers were not built: clang and libFuzzer come with scripts/install-deps.sh,
# so their absence is a broken setup, not a reason to skip.
#
# Environment:
#   CATDOG_FUZZ_SECONDS  run time (default 20: a smoke run inside `make test`, whose
#                        budget is ~15 min on two cores; campaigns are `make fuzz`)
#   CATDOG_FUZZ_RUNS     a smoke run (the ctest tests set it): exactly this many
#                        executions, with libFuzzer's -seed=CATDOG_FUZZ_SEED (default 1),
#                        from the seeds and the known cases only (a fresh corpus folder,
#                        build-fuzz/smoke/HARNESS, emptied each run), so every smoke run
#                        executes the same inputs in the same order.  Why: a time-bounded,
#                        randomly seeded run explores differently each time, so `make test`
#                        could fail on a new find that no change caused (it did once, on
#                        the ONNX harness); a smoke run must pass or fail with the code.
#                        CATDOG_FUZZ_SECONDS still caps its time (a slow machine runs a
#                        shorter prefix of the same sequence).  Exploring is `make fuzz`'s job:
#                        without CATDOG_FUZZ_RUNS the run is random and keeps its corpus.
#   CATDOG_FUZZ_BUILD    the fuzz build folder (default <source>/build-fuzz)
#   CATDOG_BIN           the normal build's catdog (ctest sets it); its folder holds the seeds test
#   CATDOG_SOURCE_DIR    the source tree (ctest sets it)
#
# The growing corpus is kept in build-fuzz/corpus/HARNESS (so runs build on each
# other), crashes go to build-fuzz/artifacts/, the log to build-fuzz/logs/HARNESS.log.
# Inputs already known to have crashed (tests/fuzz/cases/HARNESS) are fuzzed too.
# fuzz/HARNESS.dict is libFuzzer's dictionary and fuzz/HARNESS.options extra
# flags, one a line ('#' starts a comment line).  A harness whose options say
# -ignore_crashes=1 (the raw HDF5 one, whose finds are mostly libhdf5's) keeps
# going after a crash; each crash is then replayed and blamed on the first
# frame that is not the sanitizer's or libc's: in catdog's code -> the test fails; in a system
# library -> listed as a third-party finding (docs/SECURITY.md), not a failure;
# an out-of-memory report (-ignore_ooms in its options) -> listed too.
set -euo pipefail
h=${1:?usage: fuzz_run.sh HARNESS}
src=${CATDOG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fb=${CATDOG_FUZZ_BUILD:-$src/build-fuzz}
secs=${CATDOG_FUZZ_SECONDS:-20}
bin=$fb/fuzz/fuzz_$h
if [ ! -x "$bin" ]; then
  if command -v clang >/dev/null 2>&1; then
    echo "FAIL: $bin not built (run 'make fuzz-build'; needs clang and libFuzzer: libclang-rt-14-dev)" >&2
  else
    echo "FAIL: clang not found, so the libFuzzer harnesses are not built (run scripts/install-deps.sh: clang libfuzzer-14-dev)" >&2
  fi
  exit 1
fi
seeds_test=$(dirname "${CATDOG_BIN:-$src/build/catdog}")/fuzz_test_fuzz_seeds
if [ ! -x "$seeds_test" ]; then
  echo "FAIL: $seeds_test (the seed writer) is missing; build the normal build first" >&2
  exit 1
fi

mkdir -p "$fb/corpus/$h" "$fb/artifacts" "$fb/logs"
# Seeds are rewritten each run (they are cheap and must match the current code),
# into a folder of this harness's own: the suite runs the harnesses in
# parallel, and a shared folder was deleted and rewritten under the others.
seeds=$fb/seeds/$h
rm -rf "$seeds" && mkdir -p "$seeds"
CATDOG_FUZZ_SEEDS=$seeds CATDOG_FUZZ_SEEDS_ONLY=$h "$seeds_test" >"$fb/logs/seeds-$h.log" 2>&1 ||
  { cat "$fb/logs/seeds-$h.log" >&2; echo "FAIL: seed writer failed" >&2; exit 1; }
[ -n "$(ls -A "$seeds/$h" 2>/dev/null)" ] || { echo "FAIL: the seed writer wrote no seeds for $h" >&2; exit 1; }
if [ -n "${CATDOG_FUZZ_RUNS:-}" ]; then
  # Smoke run: new inputs go to a throwaway folder (libFuzzer writes to the first one).
  corpus=$fb/smoke/$h
  rm -rf "$corpus" && mkdir -p "$corpus"
else
  corpus=$fb/corpus/$h
fi
dirs=("$corpus" "$seeds/$h")
[ -d "$src/tests/fuzz/cases/$h" ] && dirs+=("$src/tests/fuzz/cases/$h")
opts=(-max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$fb/artifacts/$h-")
[ -n "${CATDOG_FUZZ_RUNS:-}" ] && opts+=(-runs="$CATDOG_FUZZ_RUNS" -seed="${CATDOG_FUZZ_SEED:-1}" -reload=0)
[ -f "$src/fuzz/$h.dict" ] && opts+=(-dict="$src/fuzz/$h.dict")
triage=0
if [ -f "$src/fuzz/$h.options" ]; then
  while read -r o; do case "$o" in ''|'#'*) ;; *) opts+=("$o") ;; esac; done <"$src/fuzz/$h.options"
  grep -qx -- '-ignore_crashes=1' "$src/fuzz/$h.options" && triage=1
fi
log=$fb/logs/$h.log
stamp=$fb/logs/$h.start
touch "$stamp"

if [ -n "${CATDOG_FUZZ_RUNS:-}" ]; then
  echo "fuzz_$h: smoke run, ${CATDOG_FUZZ_RUNS} executions, -seed=${CATDOG_FUZZ_SEED:-1}, at most ${secs}s, seeds $(ls "$seeds/$h" | wc -l)"
else
  echo "fuzz_$h: ${secs}s, corpus $(ls "$corpus" | wc -l) + seeds $(ls "$seeds/$h" | wc -l)"
fi
rc=0
# libFuzzer's own reports go to the log; sanitizer suppressions as in the ASan suite.
# allocator_may_return_null: a huge malloc fails as it does under glibc (callers
# must cope) instead of aborting.  Stacks are unwound fast (full unwinding costs
# 8x in the HDF5 harnesses), so they stop at the first frame of a library built
# without frame pointers; the ASan suite replays seeds with full stacks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/tests/sanitizers/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$src/tests/sanitizers/ubsan.supp}
# A smoke run also turns address-space randomisation off for the fuzzer: the
# comparison tracing feeds compared values (pointers among them) into the
# mutations, so with ASLR two runs with the same -seed still diverge.
run=("$bin")
if [ -n "${CATDOG_FUZZ_RUNS:-}" ]; then
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    run=(setarch "$(uname -m)" -R "$bin")
  else
    echo "fuzz_$h: note: setarch -R is not allowed here, so this smoke run is not exactly repeatable"
  fi
fi
"${run[@]}" "${opts[@]}" "${dirs[@]}" >"$log" 2>&1 || rc=$?
# Plain runs print stat::number_of_executed_units; fork mode "#N: cov: ..." lines.
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$log" | tail -n 1)
echo "fuzz_$h: exit $rc, ${execs:-?} executions, corpus now $(ls "$corpus" | wc -l)"

# The first frame of a report's first stack that is not the sanitizer's,
# libFuzzer's (its main reading the input, first in an RSS out-of-memory
# report), libc's or an allocator's: "FUNC LOCATION".
blame() {
  awk '/^ *#[0-9]+ 0x[0-9a-f]+ / {
         if ($3 == "in") { fn = $4; loc = $5 } else { fn = "?"; loc = $3 }
         if (fn ~ /^(malloc|calloc|realloc|free|posix_memalign|operator|str[a-z]*dup|strn?len|strn?cmp|memcpy|memmove|memset|memcmp|__mem|__str|__interceptor_|__asan|__sanitizer|__lsan|__ubsan|fuzzer::|__libc|__GI_|abort|raise|main$|_start$|H5MM_|H5FL_)/) next
         if (loc ~ /libc\.so|sysdeps\//) next
         print fn, loc; exit }'
}
if [ "$triage" = 1 ]; then
  ours=0 theirs=0 ooms=0 sigs=""
  for a in $(find "$fb/artifacts" -name "$h-*" -newer "$stamp" 2>/dev/null); do
    report=$("$bin" -timeout=25 -rss_limit_mb=2048 "$a" 2>&1 || true)
    if ! printf '%s\n' "$report" | grep -q "ERROR"; then
      echo "  not reproducible alone: $(basename "$a") ($(stat -c %s "$a") bytes)"
      continue
    fi
    frame=$(printf '%s\n' "$report" | blame)
    kind=$(printf '%s\n' "$report" | grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer): [A-Za-z-]+|runtime error' || echo "?")
    case "$kind:$frame" in
      *"libFuzzer: out-of-memory"*)
        ooms=$((ooms + 1))
        sigs+="out-of-memory (-ignore_ooms) in ${frame%% *}"$'\n' ;;
      *"/lib/"*".so"*)
        theirs=$((theirs + 1))
        sigs+="$kind in ${frame%% *} (${frame##*/}"$'\n' ;;
      *)
        ours=$((ours + 1))
        echo "  CATDOG: $(basename "$a"): $kind at ${frame:-unknown frame}" >&2 ;;
    esac
  done
  echo "fuzz_$h: $theirs crash(es) in system libraries, $ooms out-of-memory, $ours in catdog"
  [ -z "$sigs" ] || printf '%s' "$sigs" | sort | uniq -c | sed 's/^/  listed: /'

  [ "$ours" = 0 ] || { echo "FAIL: fuzz_$h found crashes in catdog's code (log: $log)" >&2; exit 1; }
  exit 0
fi
if [ "$rc" != 0 ]; then
  grep -E "ERROR|SUMMARY|fuzz check failed|Test unit written|==[0-9]+==" "$log" | head -n 20 >&2 || true
  echo "FAIL: fuzz_$h found a crash (full log: $log). Reproduce with: $bin ARTIFACT;" \
       "then add the input to tests/fuzz/cases/$h/ and a regression test." >&2
  exit 1
fi
