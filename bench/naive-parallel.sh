#!/usr/bin/env bash
# A rival for the benchmark: the parallel loop a competent script writer would put
# together with xargs. Each wave asks the tracker once for every ready task and runs them
# JOBS at a time, each: claim -> `git worktree add` (a fresh checkout on a new branch) ->
# agent -> merge into the branch checked out in REPO (under flock, so merges never race) ->
# close -> `git worktree remove`. Waves repeat until nothing is ready (closing a task may
# unblock others).
#
#   naive-parallel.sh REPO JOBS AGENT [ARGS...]
#
# The task id is appended to the agent's arguments. Needs br, git, jq, flock and xargs.
set -euo pipefail
usage="usage: naive-parallel.sh REPO JOBS AGENT [ARGS...]"
repo=$(cd "${1:?$usage}" && pwd)
jobs=${2:?$usage}
shift 2
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
cd "$repo"
base=$(git symbolic-ref --short HEAD)
# Worktrees beside the repository's git data, on the same disk (as hew keeps its own).
wtdir="$(git rev-parse --absolute-git-dir)/naive-parallel-worktrees"
mkdir -p "$wtdir"
lock="$(git rev-parse --absolute-git-dir)/naive-parallel.lock"
export repo base wtdir lock
trap 'rm -rf "$wtdir"' EXIT

# Merges BRANCH into the branch checked out in REPO, one merge at a time; a merge that
# fails is aborted before the lock is let go.
merge() {
  flock "$lock" bash -c 'git -C "$repo" merge --quiet --no-ff --no-edit -m "Merge $1" "$1" ||
    { git -C "$repo" merge --abort 2>/dev/null; exit 1; }' merge "$1"
}
export -f merge

# One task: the agent's command line is "$@" minus the last word, which is the task id.
one() {
  set -euo pipefail
  local id=${!#}
  local agent=("${@:1:$#-1}")
  local wt=$wtdir/$id branch=task/$id
  # Someone else took it since the ready call: skip it.
  br update "$id" --claim --actor "naive-parallel-$id" --json >/dev/null 2>&1 || return 0
  git -C "$repo" worktree add --quiet -b "$branch" "$wt" "$base"
  if (cd "$wt" && "${agent[@]}" "$id") && merge "$branch"; then
    br close "$id" --reason "done" --json >/dev/null
    git -C "$repo" worktree remove --force "$wt"
    git -C "$repo" branch --quiet -D "$branch"
  else
    echo "$id failed; its work stays on $branch" >&2
    git -C "$repo" worktree remove --force "$wt"
    br update "$id" --status open --assignee "" --json >/dev/null
    return 1
  fi
}
export -f one

done_ids=" "
while :; do
  ids=$(br ready --json --limit 0 --sort priority | jq -r '.[].id')
  # A task that failed is ready again: do not loop on it.
  todo=()
  for id in $ids; do
    case $done_ids in *" $id "*) ;; *) todo+=("$id") ;; esac
  done
  [ ${#todo[@]} -gt 0 ] || break
  printf '%s\n' "${todo[@]}" | xargs -P "$jobs" -n 1 bash -c 'one "$@"' one "$@" || true
  done_ids+="${todo[*]} "
done
