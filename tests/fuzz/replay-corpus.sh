#!/bin/bash
# Run a libFuzzer harness once over every file in the given directories
# (seeds and regression inputs), without fuzzing. A crash, leak or UBSan
# report in any of them fails the test.
# Usage: tests/fuzz/replay-corpus.sh HARNESS DIR...
set -u
exe=$1
shift
files=()
for d in "$@"; do
    [ -d "$d" ] || continue
    while IFS= read -r -d '' f; do
        files+=("$f")
    done < <(find "$d" -type f ! -name '*.md' -print0 | sort -z)
done
if [ ${#files[@]} -eq 0 ]; then
    echo "SKIP: no inputs in $*" >&2
    exit 77
fi
echo "$(basename "$exe"): ${#files[@]} inputs"
# libFuzzer runs each file argument once; several per process keeps it fast.
rc=0
for ((i = 0; i < ${#files[@]}; i += 200)); do
    "$exe" -runs=1 -rss_limit_mb=2048 -timeout=60 "${files[@]:i:200}" >/dev/null 2>"${TMPDIR:-/tmp}/replay-corpus.$$" || {
        cat "${TMPDIR:-/tmp}/replay-corpus.$$" >&2
        rc=1
    }
done
rm -f "${TMPDIR:-/tmp}/replay-corpus.$$"
[ $rc -eq 0 ] && echo "PASS: every input ran clean"
exit $rc
