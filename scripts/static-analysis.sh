#!/bin/bash
# clang-tidy (checks in .clang-tidy) and cppcheck over src/. Fails on any
# finding that is not fixed, suppressed inline with a reason, or listed in
# scripts/static-analysis.baseline (findings in modules whose owners have
# still to fix them; each line says why).
# Usage: scripts/static-analysis.sh [BUILD_DIR]   (default build-sa, set up
# and built if needed; its compile_commands.json says what to analyse)
# Policy: docs/testing.md, "Static analysis and fuzzing".
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    sed -n '2,8p' "$0" | sed 's/^# //'
    exit 0
fi
cd "$(dirname "$0")/.."
BUILD=${1:-build-sa}
BASELINE=scripts/static-analysis.baseline
JOBS=$(nproc)
if [ ! -f "$BUILD/compile_commands.json" ]; then
    meson setup "$BUILD" >/dev/null
fi
# generated headers (mbx_config.h, BPF skeletons) must exist for the
# analysers: build (a no-op in CI, where the build dir is already built); a
# build error shows up below as a file clang-tidy cannot analyse
ninja -C "$BUILD" -k 0 >/dev/null 2>&1 || true
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The sources this build compiles (optional backends only when enabled).
grep -o '"file": "[^"]*"' "$BUILD/compile_commands.json" | sed 's/^"file": "//; s/"$//' |
    while read -r f; do
        case $f in /*) ;; *) f=$BUILD/$f ;; esac
        realpath --relative-to=. "$f"
    done | grep '^src/.*\.c$' | grep -v '\.bpf\.c$' | sort -u >"$tmp/files"

# clang-tidy: ONE file per process (clang-tidy 14 reports false
# "uninitialized va_list" warnings in the later files of a multi-file run)
xargs -P "$JOBS" -n 1 clang-tidy -p "$BUILD" --quiet <"$tmp/files" \
    >"$tmp/tidy.out" 2>"$tmp/tidy.err" || true
if grep -q 'error:' "$tmp/tidy.out"; then
    echo "clang-tidy could not analyse some files:" >&2
    grep 'error:' "$tmp/tidy.out" | sort -u >&2
    exit 1
fi
# "path:line:col: warning: message [check]" -> "clang-tidy src/x.c line check message";
# headers generated into the build dir (BPF skeletons) are not ours to lint
re='^([^ ]+):([0-9]+):[0-9]+: warning: (.*) \[([^],]+)[^]]*\]$'
grep -E ': warning: .*\]$' "$tmp/tidy.out" | sort -u | while IFS= read -r l; do
    [[ $l =~ $re ]] || continue
    f=${BASH_REMATCH[1]}
    case $f in /*) ;; *) f=$BUILD/$f ;; esac # headers found through -I relative to the build dir
    f=$(realpath -m --relative-to=. "$f")
    case $f in src/* | include/*) ;; *) continue ;; esac
    echo "clang-tidy $f ${BASH_REMATCH[2]} ${BASH_REMATCH[4]} ${BASH_REMATCH[3]}"
done >"$tmp/findings"

cppcheck --enable=warning,style,performance,portability --inline-suppr --std=c11 -q \
    -j "$JOBS" -D_GNU_SOURCE -D__x86_64__ -D__linux__ -Iinclude -Isrc -I"$BUILD" \
    '-DLIBBPF_OPTS(T,N,...)=struct T N = {0}' \
    --suppress=variableScope --suppress=missingIncludeSystem \
    --template='cppcheck {file} {line} {id} {message}' --file-list="$tmp/files" \
    2>>"$tmp/findings" >/dev/null

total=0
known=0
while read -r tool file line check msg; do
    [ -n "$tool" ] || continue
    if grep -qE "^$tool +$file +$check( |$)" "$BASELINE" 2>/dev/null; then
        known=$((known + 1))
        echo "known: $file:$line [$check] $msg"
        continue
    fi
    total=$((total + 1))
    echo "FINDING: $file:$line [$check] $msg"
done < <(sort -u "$tmp/findings")
echo "static analysis of $(wc -l <"$tmp/files") files: $total new finding(s), $known listed in $BASELINE"
[ "$total" -eq 0 ]
