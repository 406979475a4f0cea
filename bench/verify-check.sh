#!/bin/sh
# The verify scenario's build, run in a checkout: broken when a done/ file says BREAK (a
# task that breaks the build alone), or when two say the same PAIR tag (two tasks that
# each pass alone and break it together).
set -eu
[ -d done ] || exit 0
broken=$(grep -l '^BREAK' done/*.txt 2>/dev/null || true)
[ -z "$broken" ] || { echo "broken by $broken"; exit 1; }
together=$(cat done/*.txt | grep '^PAIR' | sort | uniq -d)
[ -z "$together" ] || { echo "broken together: $together"; exit 1; }
