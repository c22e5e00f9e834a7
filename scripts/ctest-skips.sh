#!/usr/bin/env bash
# scripts/ctest-skips.sh BUILD_DIR [CTEST_ARGS...] - runs ctest in BUILD_DIR
# (what `make test` and `make test-asan` do), then says how many tests skipped,
# which and why, and fails when ../shared is present but a test that needs it
# (ctest label `shared`, set by CMakeLists.txt) skipped: with the data there,
# such a skip hides a broken test rather than a missing input.
# Exit status: ctest's when it failed, else 1 for such a skip, else 0.
set -uo pipefail
build=${1:?usage: ctest-skips.sh BUILD_DIR [CTEST_ARGS...]}
shift
src=$(cd "$(dirname "$0")/.." && pwd)
shared=${CATDOG_SHARED:-$src/../shared}
out=$(mktemp "${TMPDIR:-/tmp}/catdog-ctest.XXXXXX")
trap 'rm -f "$out"' EXIT

(cd "$build" && ctest "$@") | tee "$out"
rc=${PIPESTATUS[0]}

# ctest's summary lists them as "<tab> 12 - room/test_name (Skipped)".
mapfile -t skipped < <(sed -nE 's/^[[:space:]]*[0-9]+ - (.+) \(Skipped\)$/\1/p' "$out")
total=$(sed -nE 's/.* tests passed, [0-9]+ tests failed out of ([0-9]+)$/\1/p' "$out" | tail -n 1)
echo "ctest-skips: ${#skipped[@]} of ${total:-?} tests skipped in $build"
# Each skip's reason: its first "SKIP:" line in ctest's log of the run.
log=$build/Testing/Temporary/LastTest.log
for t in ${skipped[@]+"${skipped[@]}"}; do
    why=""
    [ -f "$log" ] && why=$(awk -v t="$t" '
        /^[0-9]+\/[0-9]+ Testing: / { cur = substr($0, index($0, "Testing: ") + 9) }
        cur == t && /SKIP:/ { sub(/.*SKIP: */, ""); print; exit }' "$log")
    echo "  $t: ${why:-(no reason printed)}"
done

if [ ${#skipped[@]} -gt 0 ] && [ -f "$shared/README.md" ]; then
    mapfile -t need < <(cd "$build" && ctest -N -L '^shared$' | sed -nE 's/^ *Test +#[0-9]+: (.+)$/\1/p')
    bad=()
    for t in "${skipped[@]}"; do
        for n in ${need[@]+"${need[@]}"}; do [ "$t" = "$n" ] && bad+=("$t"); done
    done
    if [ ${#bad[@]} -gt 0 ]; then
        echo "ctest-skips: FAIL: $shared is present, yet these tests that need it skipped: ${bad[*]}" >&2
        [ "$rc" -ne 0 ] || rc=1
    fi
fi
exit "$rc"
