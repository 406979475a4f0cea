#!/usr/bin/env bash
# hew's benchmark: builds hew in release, generates its own scenarios in a temp dir, runs
# hew and the rival scripts on fresh copies of the same scenarios, checks that each did
# all the work, and prints a table of figures and ratios. See bench/README.md.
#
#   bench/run.sh                 the full benchmark (about 10 minutes on 2 cores)
#   BENCH_QUICK=1 bench/run.sh   a smoke run: small scenarios, same code paths
#
# Other knobs: BENCH_ONLY="reference overhead graph summary verify machines" (a subset, in any order),
# BENCH_KEEP=1 (keep the temp dir), BENCH_DIR=DIR (work there instead of a new temp dir),
# BENCH_OUT=FILE (also write the table there), BENCH_SET="key=value ..." (hew config for
# every hew run, e.g. loop.claim_ahead=false), BENCH_GRAPH_SLEEP and BENCH_GRAPH_TASKS
# (the graph's agent time in seconds, 0 by default, and its size). Needs br, git, jq, flock, xargs and
# GNU time (/usr/bin/time) for peak memory. Exits 1 if a contender left work undone or
# (full run only) a target was missed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bench=$root/bench
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# hew reads HEW_* variables and a user config file: neither may leak into the benchmark.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep '^HEW_' || true)
for tool in br git jq flock xargs cargo; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is needed (scripts/install-br.sh installs br)" >&2; exit 2; }
done

quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
  ref_files=500 ref_tasks=8 ref_sleep=0.5 ovh_tasks=8 graph_tasks=40 summary_records=1000
  vq_tasks=16 vq_roles="3 BREAK 10 BREAK 5 PAIR1 6 PAIR1 12 PAIR2 14 PAIR2"
  mach_tasks=12 mach_sleep=0.5
else
  ref_files=5000 ref_tasks=40 ref_sleep=2 ovh_tasks=40 graph_tasks=500 summary_records=10000
  vq_tasks=40 vq_roles="7 BREAK 23 BREAK 12 PAIR1 13 PAIR1 30 PAIR2 35 PAIR2"
  mach_tasks=60 mach_sleep=2
fi
# The graph's agent: instant by default; BENCH_GRAPH_SLEEP=2 for a real-length one, and
# BENCH_GRAPH_TASKS to size it.
graph_sleep=${BENCH_GRAPH_SLEEP:-0}
graph_tasks=${BENCH_GRAPH_TASKS:-$graph_tasks}
jobs=4
only=" ${BENCH_ONLY:-reference overhead graph summary verify machines} "
seed=7

echo "bench: building hew (release)..."
cargo build --quiet --release --locked --manifest-path "$root/Cargo.toml" -p hew-cli
hew="${CARGO_TARGET_DIR:-$root/target}/release/hew"

# Scenarios live in memory (/dev/shm) unless TMPDIR or BENCH_DIR says otherwise: the figures
# are about the tools, not about how fast this machine's disk creates files (see README.md).
if [ -n "${BENCH_DIR:-}" ]; then
  work=$BENCH_DIR
  mkdir -p "$work"
else
  base=${TMPDIR:-/tmp}
  if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then base=/dev/shm; fi
  work=$(mktemp -d "$base/hew-bench.XXXXXX")
fi
if [ "${BENCH_KEEP:-0}" != 1 ] && [ -z "${BENCH_DIR:-}" ]; then
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/logs"
: >"$work/user-config.toml"
export HEW_USER_CONFIG=$work/user-config.toml
echo "bench: working in $work"

# --- helpers ----------------------------------------------------------------------------

now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
# at_least VALUE TARGET -> "ok" or "MISSED"
at_least() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t ? "ok" : "MISSED") }'; }
at_most() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t ? "ok" : "MISSED") }'; }

rows=()
failed=0
# row SCENARIO MEASURE FIGURE [TARGET RESULT]
row() {
  rows+=("$1|$2|$3|${4:-}|${5:-}")
  # The targets are for the full scenarios: a smoke run fails only on work left undone.
  case ${5:-} in
    FAILED) failed=1 ;;
    MISSED) [ "$quick" = 1 ] || failed=1 ;;
  esac
}

# jq: an RFC 3339 timestamp (any fraction of a second, `Z`) as Unix milliseconds.
jq_ms='def ms: (.[0:19] + "Z" | fromdateiso8601) * 1000
  + ((.[19:] | ltrimstr(".") | rtrimstr("Z") | . + "000" | .[0:3] | tonumber?) // 0);'

# gen_repo DIR FILES: a git repository on `main` with FILES small files in 50 directories.
gen_repo() {
  local dir=$1 files=$2 i
  mkdir -p "$dir"
  git -C "$dir" init --quiet --initial-branch main
  git -C "$dir" config user.name "bench"
  git -C "$dir" config user.email "bench@example.invalid"
  git -C "$dir" config gc.auto 0
  # The tracker's and hew's own files stay out of commits, as a project's .gitignore would.
  printf '.beads/\n.hew/\n' >>"$dir/.git/info/exclude"
  for ((i = 0; i < 50; i++)); do mkdir -p "$dir/src/m$i"; done
  for ((i = 0; i < files; i++)); do
    printf 'module %d, file %d\nfn f%d() -> u32 { %d }\n' $((i % 50)) "$i" "$i" "$i" \
      >"$dir/src/m$((i % 50))/f$i.rs"
  done
  # Files as old as a real project's: written in the same second as the index, every file
  # would look racily clean to git and be hashed again by every status, forever.
  find "$dir/src" -type f -exec touch -d "1 day ago" {} +
  git -C "$dir" add -A
  git -C "$dir" commit --quiet -m "initial commit: $files files"
  # Packed, as a cloned repository is.
  git -C "$dir" repack -adq
}

# gen_tracker DIR TASKS GRAPH: a br tracker with tasks bench-1..bench-TASKS, imported in
# one go from a generated JSONL. With GRAPH=1 each task i > 1 is blocked by 0-2 random
# earlier tasks (fixed seed); the edges go to DIR/../<name>.deps as "task blocker" lines.
gen_tracker() {
  local dir=$1 tasks=$2 graph=$3 i k n b t="2026-01-01T00:00:00Z" deps edges
  local depfile="$dir.deps"
  : >"$depfile"
  (cd "$dir" && br init --prefix bench --quiet >/dev/null)
  RANDOM=$seed
  for ((i = 1; i <= tasks; i++)); do
    deps=""
    if [ "$graph" = 1 ] && [ "$i" -gt 1 ]; then
      n=$((RANDOM % 3))
      edges=" "
      for ((k = 0; k < n; k++)); do
        b=$((RANDOM % (i - 1) + 1))
        case $edges in *" $b "*) continue ;; esac
        edges+="$b "
        deps+="${deps:+,}{\"issue_id\":\"bench-$i\",\"depends_on_id\":\"bench-$b\",\"type\":\"blocks\",\"created_at\":\"$t\",\"created_by\":\"bench\"}"
        echo "bench-$i bench-$b" >>"$depfile"
      done
    fi
    printf '{"id":"bench-%d","title":"Benchmark task %d","description":"Write done/bench-%d.txt.","status":"open","priority":2,"issue_type":"task","created_at":"%s","created_by":"bench","updated_at":"%s"%s}\n' \
      "$i" "$i" "$i" "$t" "$t" "${deps:+,\"dependencies\":[$deps]}"
  done >"$dir/.beads/issues.jsonl"
  (cd "$dir" && br sync --import-only --quiet >/dev/null)
  local ready
  ready=$(cd "$dir" && br ready --json --limit 0 | jq length)
  [ "$graph" = 1 ] || [ "$ready" = "$tasks" ] || {
    echo "bench: the tracker has $ready ready tasks, expected $tasks" >&2
    exit 1
  }
}

# copy TEMPLATE NAME: a fresh copy of a scenario (repository and tracker database).
copy() {
  rm -rf "${work:?}/$2"
  cp -a "$work/$1" "$work/$2"
  # A copy has new inodes and change times, so git would take every file for modified
  # until something refreshed the index: refresh it here, as a user's checkout already is,
  # so that no contender pays for the copy.
  git -C "$work/$2" update-index -q --refresh >/dev/null 2>&1 || true
  echo "$work/$2"
}

# hew_setup DIR SECONDS: hew configured for br and the bench agent sleeping SECONDS.
hew_setup() {
  (
    cd "$1"
    "$hew" config set tracker.command br >/dev/null
    "$hew" config set loop.agent.runtime command >/dev/null
    "$hew" config set loop.agent.command "[\"sh\", \"$bench/agent.sh\", \"$2\", \"{task_id}\"]" >/dev/null
    local kv
    for kv in ${BENCH_SET:-}; do
      "$hew" config set "${kv%%=*}" "${kv#*=}" >/dev/null
    done
  )
}

# timed NAME DIR CMD...: runs CMD in DIR, output to logs/NAME.log; sets $elapsed (ms).
timed() {
  local name=$1 dir=$2 start status=0
  shift 2
  start=$(now_ms)
  (cd "$dir" && "$@") >"$work/logs/$name.log" 2>&1 || status=$?
  elapsed=$(($(now_ms) - start))
  if [ "$status" != 0 ]; then
    echo "bench: $name exited with $status (see $work/logs/$name.log)" >&2
  fi
  return 0
}

# verify NAME DIR TASKS: every task closed and every file on main. Prints a verdict.
verify() {
  local name=$1 dir=$2 tasks=$3 closed files
  closed=$(cd "$dir" && br list --status closed --json --limit 0 |
    jq 'if type == "array" then . else .issues end | length')
  files=$(git -C "$dir" ls-tree --name-only main:done 2>/dev/null | wc -l)
  if [ "$closed" = "$tasks" ] && [ "$files" = "$tasks" ]; then
    verdict="ok: $closed/$tasks closed, $files/$tasks files on main"
    verified=ok
  else
    verdict="FAILED: $closed/$tasks closed, $files/$tasks files on main"
    verified=FAILED
  fi
  echo "bench: $name: $verdict"
}

# The one run directory hew wrote in DIR.
run_dir() { ls -d "$1"/.hew/loop/*/ | head -n 1; }

# --- scenarios ---------------------------------------------------------------------------

need_ref_template() {
  [ -d "$work/tpl-ref" ] && return
  echo "bench: generating the reference scenario ($ref_files files, $ref_tasks tasks)..."
  gen_repo "$work/tpl-ref" "$ref_files"
  gen_tracker "$work/tpl-ref" "$ref_tasks" 0
}

scenario_reference() {
  need_ref_template
  local ideal_ms dir hew_ms seq_ms naive_ms eff
  ideal_ms=$(awk -v n="$ref_tasks" -v j="$jobs" -v s="$ref_sleep" \
    'BEGIN { w = int((n + j - 1) / j); printf "%d", w * s * 1000 }')

  echo "bench: reference: hew loop --jobs $jobs..."
  dir=$(copy tpl-ref ref-hew)
  hew_setup "$dir" "$ref_sleep"
  timed ref-hew "$dir" "$hew" loop --jobs "$jobs"
  hew_ms=$elapsed
  verify "hew" "$dir" "$ref_tasks"
  local hew_ok=$verified hew_verdict=$verdict
  cp "$(run_dir "$dir")"/iters/1.json "$work/real-iter.json"

  echo "bench: reference: bench/sequential-loop.sh..."
  dir=$(copy tpl-ref ref-seq)
  timed ref-seq "$dir" bash "$bench/sequential-loop.sh" "$dir" sh "$bench/agent.sh" "$ref_sleep"
  seq_ms=$elapsed
  verify "sequential loop" "$dir" "$ref_tasks"
  local seq_ok=$verified seq_verdict=$verdict

  echo "bench: reference: bench/naive-parallel.sh..."
  dir=$(copy tpl-ref ref-naive)
  timed ref-naive "$dir" bash "$bench/naive-parallel.sh" "$dir" "$jobs" sh "$bench/agent.sh" "$ref_sleep"
  naive_ms=$elapsed
  verify "naive parallel" "$dir" "$ref_tasks"
  local naive_ok=$verified naive_verdict=$verdict

  eff=$(ratio "$ideal_ms" "$hew_ms")
  local vs_seq vs_naive
  vs_seq=$(ratio "$seq_ms" "$hew_ms")
  vs_naive=$(ratio "$naive_ms" "$hew_ms")
  local what="$ref_files files, $ref_tasks tasks, ${ref_sleep} s agent"
  row reference "scenario" "$what"
  row reference "ideal: ceil($ref_tasks/$jobs) x ${ref_sleep} s" "$(secs "$ideal_ms") s"
  row reference "hew loop --jobs $jobs: wall" "$(secs "$hew_ms") s" "" "$hew_ok"
  row reference "  efficiency (ideal / wall)" "$eff" ">= 0.90" "$(at_least "$eff" 0.90)"
  row reference "sequential-loop.sh: wall" "$(secs "$seq_ms") s" "" "$seq_ok"
  row reference "  hew speed-up over it" "${vs_seq}x" ">= 3.5x" "$(at_least "$vs_seq" 3.5)"
  row reference "naive-parallel.sh (xargs -P$jobs): wall" "$(secs "$naive_ms") s" "" "$naive_ok"
  row reference "  hew speed-up over it" "${vs_naive}x" ">= 1x" "$(at_least "$vs_naive" 1.0)"
  for v in "hew|$hew_verdict" "sequential|$seq_verdict" "naive|$naive_verdict"; do
    echo "bench: reference: ${v%%|*}: ${v#*|}" >>"$work/verdicts.txt"
  done
}

scenario_overhead() {
  need_ref_template
  local dir rd n
  echo "bench: overhead: hew loop --jobs 1, instant agent, $ovh_tasks tasks..."
  if [ "$ovh_tasks" = "$ref_tasks" ]; then
    dir=$(copy tpl-ref ovh-hew)
  else
    gen_repo "$work/ovh-hew" "$ref_files"
    gen_tracker "$work/ovh-hew" "$ovh_tasks" 0
    dir=$work/ovh-hew
  fi
  hew_setup "$dir" 0
  timed ovh-hew "$dir" "$hew" loop --jobs 1
  local wall=$elapsed
  verify "hew (overhead)" "$dir" "$ovh_tasks"
  row overhead "scenario" "$ref_files files, $ovh_tasks tasks, instant agent, --jobs 1"
  row overhead "hew loop --jobs 1: wall" "$(secs "$wall") s" "" "$verified"
  rd=$(run_dir "$dir")
  n=$(ls "$rd"/iters/*.json | grep -c '/[0-9]*\.json$')
  # With one worker, iteration i's cycle runs from its start to the next one's start (the
  # last one's to the run's end). The slot spends it on checkout, agent, inspect and
  # handing the worktree back; the next task was claimed while the agent ran, and this
  # task's merge, tracker calls and records happen while the next one runs. So: the
  # cycle minus the agent is what each task costs the slot; the sum of the steps is all
  # the work hew does per task, wherever it happens. Medians over the run.
  jq -s -r --slurpfile run "$rd/run.json" "$jq_ms"'
    def median: sort | if length == 0 then 0 else .[(length - 1) / 2 | floor] end;
    def col(f): map(.timings[f] // 0) | median;
    sort_by(.number) as $it
    | ($it | length) as $n
    | ($run[0].ended_at | ms) as $fin
    | [range(0; $n) as $i
        | $it[$i] as $x
        | (if $i + 1 < $n then $it[$i + 1].started_at | ms else $fin end) as $nextstart
        | ($x.timings // {}) as $t
        | ($nextstart - ($x.started_at | ms)) as $cycle
        | {
            slot: ($cycle - ($t.agent_ms // 0)),
            rest: ($cycle - ($t.agent_ms // 0) - ($t.checkout_ms // 0) - ($t.inspect_ms // 0)
              - ($t.verify_ms // 0)),
            tracker: (($t.ready_ms // 0) + ($t.claim_ms // 0) + ($t.tracker_ms // 0)),
            worktree: (($t.checkout_ms // 0) + ($t.inspect_ms // 0) + ($t.release_ms // 0)),
            work: (($t.ready_ms // 0) + ($t.claim_ms // 0) + ($t.tracker_ms // 0)
              + ($t.checkout_ms // 0) + ($t.inspect_ms // 0) + ($t.release_ms // 0)
              + ($t.merge_ms // 0) + ($t.verify_ms // 0))
          }] as $c
    | [
        ["slot time per task outside the agent", ($c | map(.slot) | median)],
        ["  worktree checkout", ($it | col("checkout_ms"))],
        ["  inspect what the agent left", ($it | col("inspect_ms"))],
        ["  hand-back, agent spawn, scheduling, records (the rest)", ($c | map(.rest) | median)],
        ["hew work per task outside the agent (on or off the slot)", ($c | map(.work) | median)],
        ["  tracker calls", ($c | map(.tracker) | median)],
        ["    ready (claimed ahead)", ($it | col("ready_ms"))],
        ["    claim (claimed ahead)", ($it | col("claim_ms"))],
        ["    show, close (after the slot is free)", ($it | col("tracker_ms"))],
        ["  worktree (checkout, inspect, hand-back, branch)", ($c | map(.worktree) | median)],
        ["  merge (after the slot is free)", ($it | col("merge_ms"))],
        ["agent (the instant agent itself)", ($it | col("agent_ms"))],
        ["records with timings", ($it | map(select(((.timings // {}) | add // 0) > 0)) | length)]
      ] | .[] | "\(.[0])|\(.[1])"' "$rd"/iters/[0-9]*.json >"$work/overhead.txt"
  while IFS='|' read -r what ms; do
    if [ "$what" = "records with timings" ]; then
      [ "$ms" = "$n" ] || row overhead "iteration records with timings" "$ms of $n" "all" "FAILED"
    else
      row overhead "$what (median)" "$ms ms"
    fi
  done <"$work/overhead.txt"

  # The same tasks through the sequential loop, for scale.
  if [ "$ovh_tasks" = "$ref_tasks" ]; then
    dir=$(copy tpl-ref ovh-seq)
    timed ovh-seq "$dir" bash "$bench/sequential-loop.sh" "$dir" sh "$bench/agent.sh" 0
    verify "sequential loop (overhead)" "$dir" "$ovh_tasks"
    row overhead "sequential-loop.sh, same tasks: per task" "$((elapsed / ovh_tasks)) ms" "" "$verified"
    row overhead "hew --jobs 1: per task" "$((wall / ovh_tasks)) ms"
  fi
}

scenario_graph() {
  local dir=$work/graph-hew
  echo "bench: graph: generating $graph_tasks tasks with dependencies..."
  rm -rf "$dir"
  gen_repo "$dir" "$ref_files"
  gen_tracker "$dir" "$graph_tasks" 1
  local edges
  edges=$(wc -l <"$dir.deps")
  local agent="instant agent"
  [ "$graph_sleep" = 0 ] || agent="${graph_sleep}s agent"
  echo "bench: graph: hew loop --jobs $jobs, $agent..."
  hew_setup "$dir" "$graph_sleep"
  timed graph-hew "$dir" "$hew" loop --jobs "$jobs"
  local wall=$elapsed
  verify "hew (graph)" "$dir" "$graph_tasks"
  local ok=$verified
  # Every task's claim against its blockers' closing times, as the tracker recorded them.
  local rd early runs
  rd=$(run_dir "$dir")
  (cd "$dir" && br list --all --json --limit 0) |
    jq 'if type == "array" then . else .issues end' >"$work/graph-issues.json"
  jq -R -s 'split("\n") | map(select(length > 0) | split(" ")) ' "$dir.deps" >"$work/graph-deps.json"
  early=$(jq -s -r --slurpfile issues "$work/graph-issues.json" --slurpfile deps "$work/graph-deps.json" "$jq_ms"'
    (reduce $issues[0][] as $i ({}; .[$i.id] = ($i.closed_at // null))) as $closed
    | (reduce .[] as $it ({}; .[$it.task_id] = ($it.started_at | ms))) as $started
    | [$deps[0][] | select(($started[.[0]] // 0) <= (($closed[.[1]] // "9999-01-01T00:00:00Z") | ms))]
    | length' "$rd"/iters/[0-9]*.json)
  runs=$(jq -s '[.[] | .task_id] | unique | length' "$rd"/iters/[0-9]*.json)
  row graph "scenario" "$graph_tasks tasks, $edges dependencies (seed $seed), $agent, --jobs $jobs"
  row graph "hew loop --jobs $jobs: wall" "$(secs "$wall") s" "finishes" "$ok"
  row graph "tasks run" "$runs" "$graph_tasks" "$([ "$runs" = "$graph_tasks" ] && echo ok || echo FAILED)"
  row graph "tasks claimed before a blocker closed" "$early" "0" "$([ "$early" = 0 ] && echo ok || echo FAILED)"
  row graph "per task" "$((wall / graph_tasks)) ms"
}

scenario_summary() {
  local dir=$work/summary run_id=20260101-000000-bec0
  echo "bench: summary: writing $summary_records iteration records..."
  rm -rf "$dir"
  gen_repo "$dir" 10
  (cd "$dir" && br init --prefix bench --quiet >/dev/null)
  local rd=$dir/.hew/loop/$run_id
  mkdir -p "$rd/iters"
  printf '# run records written by `hew loop`\nloop/\n' >"$dir/.hew/.gitignore"
  gen_records "$rd" "$run_id" "$summary_records"
  # Keep the generator honest: its records have the fields real ones have.
  if [ -f "$work/real-iter.json" ]; then
    local missing
    missing=$(jq -r --slurpfile real "$work/real-iter.json" \
      '($real[0] | keys) - keys | join(", ")' "$rd/iters/1.json")
    [ -z "$missing" ] || echo "bench: summary: generated records lack $missing" >&2
  fi
  row summary "scenario" "1 run, $summary_records iteration records"
  if ! "$hew" loop summary --help >/dev/null 2>&1; then
    row summary "hew loop summary: wall" "n/a (summary not built)" "<= 0.5 s"
    row summary "hew loop summary: peak memory" "n/a (summary not built)" "<= 100 MB"
    return
  fi
  local out=$work/logs/summary.log tfile=$work/summary.time
  if [ -x /usr/bin/time ]; then
    (cd "$dir" && /usr/bin/time -f '%e %M' -o "$tfile" "$hew" loop summary --run-id "$run_id") >"$out" 2>&1 || true
    (cd "$dir" && /usr/bin/time -f '%e %M' -o "$tfile" "$hew" loop summary --run-id "$run_id") >"$out" 2>&1 || {
      row summary "hew loop summary" "failed (see $out)" "" "FAILED"
      return
    }
    local wall_s rss_kb mb
    read -r wall_s rss_kb <"$tfile"
    mb=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')
    row summary "hew loop summary: wall" "$wall_s s" "<= 0.5 s" "$(at_most "$wall_s" 0.5)"
    row summary "hew loop summary: peak memory" "$mb MB" "<= 100 MB" "$(at_most "$mb" 100)"
  else
    timed summary "$dir" "$hew" loop summary --run-id "$run_id"
    row summary "hew loop summary: wall" "$(secs "$elapsed") s" "<= 0.5 s" "$(at_most "$(secs "$elapsed")" 0.5)"
    row summary "hew loop summary: peak memory" "n/a (no /usr/bin/time)" "<= 100 MB"
  fi
  if ! grep -q "$summary_records" "$out"; then
    echo "bench: summary: the output does not mention $summary_records iterations (see $out)" >&2
  fi
  report_page "$dir" "$run_id"
}

# report_page DIR RUN_ID: `hew loop report` over the same records: wall time, peak memory
# and the size of the page, which must draw one bar per iteration.
report_page() {
  local dir=$1 run_id=$2 page=$work/report.html out=$work/logs/report.log tfile=$work/report.time
  if ! "$hew" loop report --help >/dev/null 2>&1; then
    row summary "hew loop report: wall" "n/a (report not built)" "<= 2 s"
    return
  fi
  local wall_s rss_kb=""
  if [ -x /usr/bin/time ]; then
    (cd "$dir" && "$hew" loop report --run-id "$run_id" -o "$page") >"$out" 2>&1 || true
    (cd "$dir" && /usr/bin/time -f '%e %M' -o "$tfile" "$hew" loop report --run-id "$run_id" -o "$page") >"$out" 2>&1 || {
      row summary "hew loop report" "failed (see $out)" "" "FAILED"
      return
    }
    read -r wall_s rss_kb <"$tfile"
  else
    timed report "$dir" "$hew" loop report --run-id "$run_id" -o "$page"
    wall_s=$(secs "$elapsed")
  fi
  local bytes mb bars
  bytes=$(wc -c <"$page")
  mb=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }')
  bars=$(grep -o '<g class="o-' "$page" | wc -l)
  row summary "hew loop report: wall" "$wall_s s" "<= 2 s" "$(at_most "$wall_s" 2)"
  if [ -n "$rss_kb" ]; then
    row summary "hew loop report: peak memory" "$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }') MB"
  fi
  row summary "hew loop report: page size" "$mb MB" "<= 5 MB" "$(at_most "$mb" 5)"
  row summary "hew loop report: bars drawn" "$bars" "$summary_records" \
    "$([ "$bars" = "$summary_records" ] && echo ok || echo FAILED)"
}

# stamp VAR SECS: sets VAR to 2026-01-01T00:00:00 plus SECS (under 30 days), no subshell.
stamp() {
  local t=$2
  printf -v "$1" '2026-01-%02dT%02d:%02d:%02d' $((t / 86400 + 1)) $((t % 86400 / 3600)) \
    $((t % 3600 / 60)) $((t % 60))
}

# gen_records RUN_DIR RUN_ID N: a finished run.json and N iteration records (IterLog, as
# hew-core/src/iterlog/record.rs writes them): three models, mixed outcomes, per-model
# usage, commits, merges. Builtins only, so 10,000 records take seconds.
gen_records() {
  local rd=$1 run_id=$2 n=$3 i model outcome merge commit base in out cr cc cost t0 t1
  local models=(claude-haiku-4-5 claude-sonnet-4-5 claude-opus-4-1)
  local outcomes=(closed closed closed closed no_change agent_failed merge_conflict verify_failed)
  declare -A counts=()
  for ((i = 1; i <= n; i++)); do
    model=${models[i % 3]}
    outcome=${outcomes[i % 8]}
    counts[$outcome]=$((${counts[$outcome]:-0} + 1))
    in=$((1000 + i % 977)) out=$((200 + i % 331)) cr=$((10000 + i % 5003)) cc=$((1500 + i % 701))
    printf -v cost '0.%06d' $((i % 999983))
    printf -v commit '%040x' "$i"
    printf -v base '%040x' $((i + 2000000))
    merge=null
    [ "$outcome" != closed ] || printf -v merge '"%040x"' $((i + 1000000))
    stamp t0 $((i * 60))
    stamp t1 $((i * 60 + 55))
    printf '{"schema_version":1,"number":%d,"task_id":"bench-%d","title":"Benchmark task %d","slot":%d,"attempt":1,"started_at":"%s.000Z","ended_at":"%s.500Z","outcome":"%s","error_class":null,"error":null,"model":"%s","rule":"default","runtime":"claude","usage":{"total":{"input":%d,"output":%d,"cache_read":%d,"cache_create":%d},"per_model":{"%s":{"input":%d,"output":%d,"cache_read":%d,"cache_create":%d}},"source":"result"},"reported_cost_usd":%s,"branch":"hew/bench-%d","base":"%s","commits":[{"id":"%s","summary":"bench-%d: done"}],"merge_commit":%s,"merged_into":"main","kept_branch":null,"verify":null,"ended":"exited","exit_code":0,"signal":null,"leaked":false,"agent_closed":false,"stderr_tail":"","notes":[],"timings":{"ready_ms":20,"claim_ms":40,"checkout_ms":15,"agent_ms":55000,"inspect_ms":5,"verify_ms":0,"merge_ms":12,"tracker_ms":80,"release_ms":4}}\n' \
      "$i" "$i" "$i" $((i % 4 + 1)) "$t0" "$t1" "$outcome" "$model" \
      "$in" "$out" "$cr" "$cc" "$model" "$in" "$out" "$cr" "$cc" \
      "$cost" "$i" "$base" "$commit" "$i" "$merge" >"$rd/iters/$i.json"
  done
  local outcome_json="{" sep=""
  for outcome in "${!counts[@]}"; do
    outcome_json+="$sep\"$outcome\":${counts[$outcome]}"
    sep=","
  done
  outcome_json+="}"
  stamp t0 $((n * 60 + 60))
  printf '{"schema_version":1,"run_id":"%s","status":"finished","stop_reason":"ready_empty","error":null,"started_at":"2026-01-01T00:00:00.000Z","ended_at":"%s.000Z","hew_version":"bench","host":"bench","pid":1,"repo":"%s","into":"main","diverted":null,"jobs":4,"runtime":"claude","iterations":%d,"outcomes":%s}\n' \
    "$run_id" "$t0" "${rd%/.hew/loop/*}" "$n" "$outcome_json" >"$rd/run.json"
}

# green DIR BASE: how many first-parent commits of main after BASE fail verify-check.sh.
green_check() {
  local dir=$1 base=$2 red=0 c t
  t=$(mktemp -d "$work/green.XXXXXX")
  for c in $(git -C "$dir" rev-list --first-parent "$base..main"); do
    rm -rf "${t:?}/done"
    git -C "$dir" archive "$c" done 2>/dev/null | tar -x -C "$t" 2>/dev/null || true
    (cd "$t" && sh "$bench/verify-check.sh" >/dev/null 2>&1) || red=$((red + 1))
  done
  rm -rf "$t"
  echo "$red"
}

# The verify scenario: tasks whose work must not break main. A few break the build alone,
# pairs break it only together; the verify command takes 1 s. hew verifies the merged
# result in its merge queue (batched, bisecting); against hew with no verify command and a
# serial queue that verifies each merge on its own.
scenario_verify() {
  local j=8 secs=3 dir base roles=$work/vq-roles.txt expect culprits
  culprits=$(($(echo "$vq_roles" | wc -w) / 2))
  # Of each pair, the second to land fails: one culprit per pair, not two.
  local breakers pairs
  breakers=$(echo "$vq_roles" | tr ' ' '\n' | grep -c BREAK || true)
  pairs=$(((culprits - breakers) / 2))
  expect=$((vq_tasks - breakers - pairs))
  if [ ! -d "$work/tpl-vq" ]; then
    echo "bench: verify: generating $vq_tasks tasks..."
    gen_repo "$work/tpl-vq" 500
    gen_tracker "$work/tpl-vq" "$vq_tasks" 0
  fi
  set -- $vq_roles
  : >"$roles"
  while [ $# -gt 1 ]; do echo "bench-$1 $2" >>"$roles"; shift 2; done
  export BENCH_ROLES=$roles
  base=$(git -C "$work/tpl-vq" rev-parse main)
  local check="sh $bench/verify-check.sh"

  echo "bench: verify: hew, no verify command..."
  dir=$(copy tpl-vq vq-plain)
  hew_setup "$dir" "$secs"
  (cd "$dir" && "$hew" config set loop.retry.max 0 >/dev/null)
  timed vq-plain "$dir" "$hew" loop --jobs "$j"
  local plain_ms=$elapsed plain_landed plain_red
  plain_landed=$(git -C "$dir" ls-tree --name-only main:done 2>/dev/null | wc -l)
  plain_red=$(green_check "$dir" "$base")

  # The verify command sleeps: it waits rather than computes, so the queue may test
  # several merged results at once (loop.merge.parallel); measured with 1 and with 4.
  local hew_ms hew_landed hew_red hew_runs p
  for p in 1 4; do
    echo "bench: verify: hew, verify on the merged result, loop.merge.parallel = $p..."
    dir=$(copy tpl-vq "vq-hew-$p")
    hew_setup "$dir" "$secs"
    (cd "$dir" && "$hew" config set loop.retry.max 0 >/dev/null &&
      "$hew" config set loop.merge.parallel "$p" >/dev/null &&
      "$hew" config set loop.verify.command "echo >>'$work/vq-hew-$p.runs'; sleep 1; $check" >/dev/null)
    : >"$work/vq-hew-$p.runs"
    timed "vq-hew-$p" "$dir" "$hew" loop --jobs "$j"
    hew_ms[$p]=$elapsed
    hew_landed[$p]=$(git -C "$dir" ls-tree --name-only main:done 2>/dev/null | wc -l)
    hew_red[$p]=$(green_check "$dir" "$base")
    hew_runs[$p]=$(wc -l <"$work/vq-hew-$p.runs")
  done

  echo "bench: verify: bench/serial-queue.sh..."
  dir=$(copy tpl-vq vq-serial)
  : >"$work/vq-serial.runs"
  timed vq-serial "$dir" bash "$bench/serial-queue.sh" "$dir" "$j" \
    "echo >>'$work/vq-serial.runs'; sleep 1; $check" sh "$bench/agent.sh" "$secs"
  local serial_ms=$elapsed serial_landed serial_red serial_runs
  serial_landed=$(git -C "$dir" ls-tree --name-only main:done 2>/dev/null | wc -l)
  serial_red=$(green_check "$dir" "$base")
  serial_runs=$(wc -l <"$work/vq-serial.runs")
  unset BENCH_ROLES

  local vs_plain vs_serial
  landed() { [ "$1" = "$expect" ] && echo ok || echo FAILED; }
  row verify "scenario" "$vq_tasks tasks ($breakers break the build alone, $pairs pairs break it together), ${secs} s agent, 1 s verify, --jobs $j"
  row verify "hew, no verify command: wall" "$(secs "$plain_ms") s"
  row verify "  landed; first-parent commits of main that fail the build" "$plain_landed; $plain_red"
  for p in 1 4; do
    vs_plain=$(ratio "${hew_ms[$p]}" "$plain_ms")
    vs_serial=$(ratio "$serial_ms" "${hew_ms[$p]}")
    local target_plain="" target_serial="" res_plain="" res_serial=""
    if [ "$p" = 4 ]; then
      target_plain="<= 1.3x" res_plain=$(at_most "$vs_plain" 1.3)
      target_serial=">= 1.8x" res_serial=$(at_least "$vs_serial" 1.8)
    fi
    row verify "hew, verify on the merged result, parallel $p: wall" "$(secs "${hew_ms[$p]}") s"
    row verify "  landed (all but the culprits)" "${hew_landed[$p]}" "$expect" "$(landed "${hew_landed[$p]}")"
    row verify "  first-parent commits of main that fail the build" "${hew_red[$p]}" "0" "$([ "${hew_red[$p]}" = 0 ] && echo ok || echo FAILED)"
    row verify "  verify runs" "${hew_runs[$p]}"
    row verify "  wall / hew with no verify command" "${vs_plain}x" "$target_plain" "$res_plain"
    row verify "  speed-up over serial-queue.sh" "${vs_serial}x" "$target_serial" "$res_serial"
  done
  row verify "serial-queue.sh (each merge verified alone): wall" "$(secs "$serial_ms") s"
  row verify "  landed; failing first-parent commits; verify runs" "$serial_landed; $serial_red; $serial_runs" "$expect" "$(landed "$serial_landed")"
}

# machine_clone BARE DIR: a clone of BARE at DIR, configured like hew_setup and landing on
# origin (loop.merge.remote), with the tracker named by BEADS_DIR.
machine_clone() {
  rm -rf "$2"
  git clone --quiet "$1" "$2"
  git -C "$2" config user.name "bench"
  git -C "$2" config user.email "bench@example.invalid"
  printf '.beads/\n.hew/\n' >>"$2/.git/info/exclude"
  hew_setup "$2" "$mach_sleep"
  (cd "$2" && "$hew" config set loop.merge.remote origin >/dev/null &&
    "$hew" config set loop.claim_ahead false >/dev/null)
}

# machines_verify BARE BEADS_DIR: every task closed, each landed once on the remote's main.
machines_verify() {
  local closed files merges unique
  closed=$(BEADS_DIR=$2 br list --status closed --json --limit 0 |
    jq 'if type == "array" then . else .issues end | length')
  files=$(git --git-dir "$1" ls-tree --name-only main:done 2>/dev/null | wc -l)
  merges=$(git --git-dir "$1" log --first-parent --format=%s main | grep -c '^Merge hew/' || true)
  unique=$(git --git-dir "$1" log --first-parent --format=%s main |
    sed -n 's/^Merge hew\/[^ ]* (\([^:]*\):.*/\1/p' | sort -u | wc -l)
  if [ "$closed" = "$mach_tasks" ] && [ "$files" = "$mach_tasks" ] && [ "$merges" = "$mach_tasks" ] &&
    [ "$unique" = "$mach_tasks" ]; then
    verdict="$closed closed, $merges merges of $unique tasks on the remote"
    verified=ok
  else
    verdict="$closed closed, $files files, $merges merges of $unique tasks on the remote"
    verified=FAILED
  fi
}

# Several machines on one backlog, simulated on this host: clones of one bare remote, one
# tracker through BEADS_DIR, each hew in a UTS namespace of its own (its own host name)
# when unshare allows it, --jobs 2 each, landing on the remote.
scenario_machines() {
  local tpl=$work/tpl-mach one_ms three_ms i
  if [ ! -d "$tpl" ]; then
    echo "bench: machines: generating $mach_tasks tasks..."
    gen_repo "$tpl/src" 500
    git clone --quiet --bare "$tpl/src" "$tpl/origin.git"
    mkdir -p "$tpl/backlog"
    gen_tracker "$tpl/backlog" "$mach_tasks" 0
  fi
  local host_wrap=()
  if unshare -u true 2>/dev/null; then host_wrap=(unshare -u sh -c 'hostname "$0" && exec "$@"'); fi

  echo "bench: machines: one runner, --jobs 2..."
  rm -rf "$work/mach-1" && mkdir -p "$work/mach-1"
  cp -a "$tpl/origin.git" "$work/mach-1/origin.git"
  cp -a "$tpl/backlog" "$work/mach-1/backlog"
  export BEADS_DIR=$work/mach-1/backlog/.beads
  machine_clone "$work/mach-1/origin.git" "$work/mach-1/m1"
  timed mach-1 "$work/mach-1/m1" "$hew" loop --jobs 2
  one_ms=$elapsed
  machines_verify "$work/mach-1/origin.git" "$BEADS_DIR"
  local one_ok=$verified one_verdict=$verdict

  echo "bench: machines: three runners, --jobs 2 each..."
  rm -rf "$work/mach-3" && mkdir -p "$work/mach-3"
  cp -a "$tpl/origin.git" "$work/mach-3/origin.git"
  cp -a "$tpl/backlog" "$work/mach-3/backlog"
  export BEADS_DIR=$work/mach-3/backlog/.beads
  for i in 1 2 3; do machine_clone "$work/mach-3/origin.git" "$work/mach-3/m$i"; done
  local start pids=()
  start=$(now_ms)
  for i in 1 2 3; do
    (cd "$work/mach-3/m$i" && "${host_wrap[@]}" ${host_wrap:+"bench-m$i"} "$hew" loop --jobs 2) \
      >"$work/logs/mach-3-m$i.log" 2>&1 &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || echo "bench: a machine exited with $? (see $work/logs)" >&2; done
  three_ms=$(($(now_ms) - start))
  machines_verify "$work/mach-3/origin.git" "$BEADS_DIR"
  local three_ok=$verified three_verdict=$verdict
  unset BEADS_DIR
  local hosts
  hosts=$(for i in 1 2 3; do jq -r .host "$(run_dir "$work/mach-3/m$i")"/run.json; done | sort -u | tr '\n' ' ')

  local speedup
  speedup=$(ratio "$one_ms" "$three_ms")
  row machines "scenario" "$mach_tasks tasks, ${mach_sleep} s agent, clones of one bare remote, one BEADS_DIR, landing on origin"
  row machines "one runner --jobs 2: wall" "$(secs "$one_ms") s" "" "$one_ok"
  row machines "three runners --jobs 2 (hosts: $hosts): wall" "$(secs "$three_ms") s" "" "$three_ok"
  row machines "  throughput over one runner" "${speedup}x" ">= 2.4x" "$(at_least "$speedup" 2.4)"
  echo "bench: machines: one runner: $one_verdict" >>"$work/verdicts.txt"
  echo "bench: machines: three runners: $three_verdict" >>"$work/verdicts.txt"
}

# --- run ---------------------------------------------------------------------------------

: >"$work/verdicts.txt"
started=$(now_ms)
for s in reference overhead graph summary verify machines; do
  case $only in *" $s "*) "scenario_$s" ;; esac
done

# --- the table ---------------------------------------------------------------------------

{
  echo
  echo "hew benchmark$([ "$quick" = 1 ] && echo " (BENCH_QUICK=1: smoke scenarios)") — $(git -C "$root" rev-parse --short HEAD), $(nproc) cores, $(secs $(($(now_ms) - started))) s"
  echo
  printf '%s\n' "${rows[@]}" | awk -F'|' '
    { for (i = 1; i <= 5; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
    END {
      h[1] = "SCENARIO"; h[2] = "MEASURE"; h[3] = "FIGURE"; h[4] = "TARGET"; h[5] = "RESULT"
      for (i = 1; i <= 5; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
      for (i = 1; i <= 5; i++) printf "%-*s%s", w[i], h[i], (i < 5 ? "  " : "\n")
      for (r = 1; r <= NR; r++)
        for (i = 1; i <= 5; i++) printf "%-*s%s", w[i], cell[r, i], (i < 5 ? "  " : "\n")
    }'
  echo
  cat "$work/verdicts.txt"
} | tee "$work/results.txt"
[ -z "${BENCH_OUT:-}" ] || cp "$work/results.txt" "$BENCH_OUT"
exit "$failed"
