#!/bin/bash
# The --help texts are part of the interface: compare `mbx --help` and
# `mbx COMMAND --help` byte for byte with tests/golden/help-*.txt, check that
# `mbx help COMMAND` and `mbx -h` print the same, and that docs/usage.md
# documents every option the help lists.
#
# After an intended change to the options or their help, regenerate and
# review the diff (docs/testing.md):
#   UPDATE_GOLDEN=1 meson test -C build cli-help
#   git diff tests/golden/
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "${MBX_SRCDIR:-$HERE/../..}" && pwd)
MBX=${MBX:?set MBX to the mbx binary}
GOLDEN=$SRC/tests/golden
T=$(mktemp -d /tmp/mbx-help.XXXXXX); trap 'rm -rf "$T"' EXIT
FAILED=0
fail() { echo "FAIL: $*" >&2; FAILED=1; }

# name -> arguments
declare -A ARGS=([mbx]="--help" [record]="record --help" [analyze]="analyze --help"
                 [inspect]="inspect --help" [replay]="replay --help")

for name in mbx record analyze inspect replay; do
    out=$T/help-$name.txt
    # shellcheck disable=SC2086
    timeout 10 "$MBX" ${ARGS[$name]} > "$out" 2> "$T/err"; rc=$?
    [ "$rc" = 0 ] || fail "mbx ${ARGS[$name]}: exit status $rc (want 0)"
    [ -s "$T/err" ] && fail "mbx ${ARGS[$name]}: unexpected stderr: $(head -3 "$T/err")"
    if [ -n "${UPDATE_GOLDEN:-}" ]; then
        cp "$out" "$GOLDEN/help-$name.txt" && echo "updated $GOLDEN/help-$name.txt"
        continue
    fi
    if [ ! -f "$GOLDEN/help-$name.txt" ]; then
        fail "missing $GOLDEN/help-$name.txt (run with UPDATE_GOLDEN=1)"
    elif ! cmp -s "$GOLDEN/help-$name.txt" "$out"; then
        fail "mbx ${ARGS[$name]} differs from tests/golden/help-$name.txt (- golden, + actual):"
        diff -u "$GOLDEN/help-$name.txt" "$out" | sed 's/^/    /' >&2
        echo "    if the change is intended: UPDATE_GOLDEN=1 meson test -C BUILD cli-help" >&2
    fi
    # the other spellings print the same text
    if [ "$name" = mbx ]; then
        alt=("-h" "help")
    else
        alt=("help $name" "$name -h")
    fi
    for a in "${alt[@]}"; do
        # shellcheck disable=SC2086
        timeout 10 "$MBX" $a > "$T/alt" 2>&1; rc=$?
        [ "$rc" = 0 ] || fail "mbx $a: exit status $rc (want 0)"
        cmp -s "$out" "$T/alt" || fail "mbx $a differs from mbx ${ARGS[$name]}"
    done
done

# Every option in the help is documented in docs/usage.md.
USAGE=$SRC/docs/usage.md
if [ ! -f "$USAGE" ]; then
    fail "missing $USAGE"
else
    for name in record analyze inspect replay; do
        opts=$(grep -oE '^ +(-[a-zA-Z], )?--[a-z0-9-]+' "$T/help-$name.txt" | grep -oE -- '--[a-z0-9-]+')
        [ -n "$opts" ] || fail "no options found in mbx $name --help"
        for opt in $opts; do
            [ "$opt" = --help ] && continue
            grep -qE -- "\`$opt[ =\`]" "$USAGE" || fail "docs/usage.md does not document mbx $name $opt"
        done
    done
fi

[ "$FAILED" = 0 ] || exit 1
echo "PASS cli_help"
