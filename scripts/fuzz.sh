#!/bin/bash
# Build the libFuzzer harnesses and run each for a bounded time; fail on any
# crash, leak, UBSan report, timeout or out-of-memory.
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]   (default 60 s per harness, all harnesses)
# Environment: FUZZ_BUILD build dir (build-fuzz), FUZZ_CORPUS corpus dir kept
# between runs (FUZZ_BUILD/corpus), FUZZ_JOBS harnesses run at once (nproc).
# Findings are saved as FUZZ_BUILD/findings/<harness>-crash-*; turn each into
# a regression: copy it to tests/fuzz/regressions/<harness>/ (see docs/testing.md).
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    sed -n '2,8p' "$0" | sed 's/^# //'
    exit 0
fi
cd "$(dirname "$0")/.."
SECS=${1:-60}
[ $# -gt 0 ] && shift
HARNESSES=("$@")
[ ${#HARNESSES[@]} -eq 0 ] && HARNESSES=(fuzz_capture fuzz_request fuzz_response fuzz_profile fuzz_replay)
BUILD=${FUZZ_BUILD:-build-fuzz}
CORPUS=${FUZZ_CORPUS:-$BUILD/corpus}
JOBS=${FUZZ_JOBS:-$(nproc)}
FINDINGS=$BUILD/findings

if [ ! -f "$BUILD/build.ninja" ]; then
    CC=clang meson setup "$BUILD" -Dfuzz=true -Dtests=false >/dev/null
fi
targets=()
for h in "${HARNESSES[@]}"; do targets+=("tests/fuzz/$h"); done
ninja -C "$BUILD" "${targets[@]}" >/dev/null
if [ ! -d "$CORPUS/fuzz_capture" ]; then
    scripts/fuzz-seeds.sh "$CORPUS" "$BUILD" >/dev/null
fi
rm -rf "$FINDINGS"
mkdir -p "$FINDINGS"

run_one() {
    local h=$1 log=$FINDINGS/$1.log rc=0 d
    local dirs=("$CORPUS/$h")
    mkdir -p "$CORPUS/$h"
    # the first directory receives new inputs; the committed seeds and past
    # findings are read too
    for d in "tests/fuzz/seeds/$h" "tests/fuzz/regressions/$h"; do
        [ -d "$d" ] && dirs+=("$d")
    done
    UBSAN_OPTIONS=print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    timeout -k 10 $((SECS + 120)) "$BUILD/tests/fuzz/$h" \
        -max_total_time="$SECS" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$FINDINGS/$h-" "${dirs[@]}" >"$log" 2>&1 || rc=$?
    local execs
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    if [ $rc -eq 0 ]; then
        echo "$h: ok, $execs runs in ${SECS} s, corpus $(find "$CORPUS/$h" -type f | wc -l) files"
    else
        echo "$h: FAILED (exit $rc), log: $log"
        grep -E 'ERROR|runtime error|invariant|SUMMARY' "$log" | head -5 | sed 's/^/    /'
    fi
    return $rc
}

fail=0
pids=()
names=()
for h in "${HARNESSES[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
    run_one "$h" &
    pids+=($!)
    names+=("$h")
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || fail=1
done
shopt -s nullglob
found=("$FINDINGS"/*-crash-* "$FINDINGS"/*-leak-* "$FINDINGS"/*-timeout-* "$FINDINGS"/*-oom-* "$FINDINGS"/*-slow-unit-*)
if [ ${#found[@]} -gt 0 ]; then
    echo "findings (reproduce: $BUILD/tests/fuzz/<harness> FILE):"
    printf '    %s\n' "${found[@]}"
    fail=1
fi
exit $fail
