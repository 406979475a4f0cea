#!/usr/bin/env bash
# Measures `hew loop summary` (and `hew loop list`) over one run of N synthetic iteration
# records (default 10 000): wall time and peak memory with /usr/bin/time -v, against the
# targets of 0.5 s and 100 MB. Self-contained: builds hew in release mode, writes the
# records into a throwaway repository, and exits non-zero when a target is missed.
#
#   bench/summary-records.sh            # 10 000 records
#   N=50000 bench/summary-records.sh    # any number
#   HEW=/path/to/hew bench/summary-records.sh   # an already built binary
#
# Each record is shaped like a real one (about 2.5 KB of pretty JSON): usage over two
# models, costs, a commit, a verify result and a stderr tail, on one of four requested
# models, with the outcomes of a typical run.

set -euo pipefail

N=${N:-10000}
RUNS=${RUNS:-5}
MAX_SECONDS=${MAX_SECONDS:-0.5}
MAX_KB=${MAX_KB:-102400}
root=$(cd "$(dirname "$0")/.." && pwd)

if [[ -z "${HEW:-}" ]]; then
    cargo build --release --quiet -p hew-cli --manifest-path "$root/Cargo.toml"
    HEW="$root/target/release/hew"
fi
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (GNU time)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/hew-bench-summary.XXXXXX")
trap 'rm -rf "$work"' EXIT
repo="$work/repo"
run_id=20261122-000000-beef
mkdir -p "$repo/.hew/loop/$run_id/iters"
git -C "$repo" init -q

cat >"$repo/.hew/loop/$run_id/run.json" <<EOF
{
  "schema_version": 1,
  "run_id": "$run_id",
  "status": "finished",
  "stop_reason": "ready_empty",
  "started_at": "2026-11-22T00:00:00.000Z",
  "ended_at": "2026-11-23T04:00:00.000Z",
  "hew_version": "0.1.0",
  "host": "bench",
  "pid": 1,
  "repo": "$repo",
  "into": "main",
  "jobs": 4,
  "runtime": "claude",
  "iterations": $N,
  "outcomes": {}
}
EOF

start=$(date +%s.%N)
awk -v n="$N" -v dir="$repo/.hew/loop/$run_id/iters" '
BEGIN {
    split("opus sonnet haiku -", requested, " ")
    split("claude-opus-4-5-20251101 claude-sonnet-4-5-20250929 claude-haiku-4-5-20251001 claude-sonnet-4-5-20250929", billed, " ")
    split("5 3 1 3", pin, " "); split("25 15 5 15", pout, " ")
    split("6.25 3.75 1.25 3.75", pwrite, " "); split("0.5 0.3 0.1 0.3", pread, " ")
    split("closed closed closed closed closed closed no_change verify_failed merge_conflict agent_failed", outcomes, " ")
    tail = ""
    for (k = 0; k < 12; k++) tail = tail "warning: something the agent printed on stderr, line " k "\\n"
    srand(42)
    for (i = 1; i <= n; i++) {
        m = (i % 4) + 1
        input = int(rand() * 5000) + 100; output = int(rand() * 3000) + 50
        read = int(rand() * 200000); create = int(rand() * 20000)
        hin = int(rand() * 2000); hout = int(rand() * 300); hread = int(rand() * 5000)
        # The second model, as a subagent would use: haiku, or sonnet under haiku.
        second = (m == 3) ? billed[2] : billed[3]
        c1 = (input * pin[m] + output * pout[m] + create * pwrite[m] + read * pread[m]) / 1e6
        c2 = (hin * 1 + hout * 5 + hread * 0.1) / 1e6
        outcome = outcomes[(i % 10) + 1]
        model = (requested[m] == "-") ? "null" : "\"" requested[m] "\""
        rule = (requested[m] == "-") ? "none" : "priority"
        f = dir "/" i ".json"
        printf "{\n  \"schema_version\": 1,\n  \"number\": %d,\n  \"task_id\": \"bench-%d\",\n", i, i > f
        printf "  \"title\": \"Synthetic task number %d, with a title of ordinary length\",\n", i > f
        printf "  \"slot\": %d,\n  \"attempt\": 1,\n", (i % 4) + 1 > f
        printf "  \"started_at\": \"2026-11-22T01:%02d:%02d.000Z\",\n  \"ended_at\": \"2026-11-22T02:%02d:%02d.500Z\",\n", i % 60, i % 60, i % 60, i % 60 > f
        printf "  \"outcome\": \"%s\",\n  \"error_class\": null,\n  \"error\": null,\n", outcome > f
        printf "  \"model\": %s,\n  \"rule\": \"%s\",\n  \"runtime\": \"claude\",\n", model, rule > f
        printf "  \"usage\": {\n    \"total\": {\"input\": %d, \"output\": %d, \"cache_read\": %d, \"cache_create\": %d},\n", input + hin, output + hout, read + hread, create > f
        printf "    \"per_model\": {\n      \"%s\": {\"input\": %d, \"output\": %d, \"cache_read\": %d, \"cache_create\": %d},\n", billed[m], input, output, read, create > f
        printf "      \"%s\": {\"input\": %d, \"output\": %d, \"cache_read\": %d, \"cache_create\": 0}\n    },\n", second, hin, hout, hread > f
        printf "    \"source\": \"result\"\n  },\n" > f
        printf "  \"reported_cost_usd\": %.9f,\n  \"cost_usd\": %.9f,\n", c1 + c2, c1 + c2 > f
        printf "  \"cost_per_model\": {\"%s\": %.9f, \"%s\": %.9f},\n", billed[m], c1, second, c2 > f
        printf "  \"branch\": \"hew/bench-%d\",\n  \"base\": \"0123456789abcdef0123456789abcdef01234567\",\n", i > f
        printf "  \"commits\": [{\"id\": \"89abcdef0123456789abcdef0123456789abcdef\", \"summary\": \"bench-%d: the change\"}],\n", i > f
        printf "  \"merge_commit\": \"fedcba9876543210fedcba9876543210fedcba98\",\n  \"merged_into\": \"main\",\n  \"kept_branch\": null,\n" > f
        printf "  \"verify\": {\"command\": \"cargo test\", \"passed\": true, \"exit_code\": 0, \"output_tail\": \"test result: ok. 42 passed\"},\n" > f
        printf "  \"ended\": \"exited\",\n  \"exit_code\": 0,\n  \"signal\": null,\n  \"leaked\": false,\n  \"agent_closed\": false,\n" > f
        printf "  \"stderr_tail\": \"%s\",\n  \"notes\": []\n}\n", tail > f
        close(f)
    }
}'
made=$(date +%s.%N)
bytes=$(du -sk "$repo/.hew/loop/$run_id/iters" | cut -f1)
printf 'wrote %d records (%d KB) in %.1fs\n' "$N" "$bytes" "$(awk -v a="$start" -v b="$made" 'BEGIN {print b - a}')"

# Runs a command RUNS times; prints the median wall time (s) and the peak RSS (KB).
measure() {
    local walls=() peak=0 out
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null 2>&1
        out=$(cat "$work/time.txt")
        local wall rss
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {
            n = split($2, p, ":"); s = 0
            for (i = 1; i <= n; i++) s = s * 60 + p[i]
            print s }' <<<"$out")
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' <<<"$out")
        walls+=("$wall")
        (( rss > peak )) && peak=$rss
    done
    local median
    median=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    echo "$median $peak"
}

cd "$repo"
# The first run warms the page cache, as a second look at a summary would find it.
"$HEW" loop summary >/dev/null
"$HEW" loop summary --json | grep -q "\"iterations\"\|\"totals\"" || { echo "summary printed nothing useful" >&2; exit 1; }

failed=0
printf '\n%-44s %10s %12s\n' "command ($N records, median of $RUNS)" "wall (s)" "peak (MB)"
for args in "loop summary" "loop summary --json" "loop summary --tasks" "loop summary --format markdown --tasks" "loop list"; do
    # shellcheck disable=SC2086
    read -r wall kb < <(measure "$HEW" $args)
    ok=ok
    if awk -v w="$wall" -v max="$MAX_SECONDS" 'BEGIN {exit !(w > max)}' || (( kb > MAX_KB )); then
        ok=MISSED
        failed=1
    fi
    printf '%-44s %10.3f %12.1f  %s\n' "hew $args" "$wall" "$(awk -v k="$kb" 'BEGIN {print k / 1024}')" "$ok"
done
printf '\ntargets: wall <= %ss, peak <= %d MB\n' "$MAX_SECONDS" $((MAX_KB / 1024))
exit $failed
