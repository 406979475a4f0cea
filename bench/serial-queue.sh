#!/usr/bin/env bash
# A rival for the benchmark's verify scenario: the parallel loop of naive-parallel.sh with
# a serial merge queue that keeps main green: under flock, each finished branch is merged
# onto main's tip in a scratch worktree and VERIFY runs there; main fast-forwards to the
# merge only if it passes, else the task is left open. Every merge is verified on its own,
# one at a time.
#
#   serial-queue.sh REPO JOBS VERIFY AGENT [ARGS...]
#
# The task id is appended to the agent's arguments. Needs br, git, jq, flock and xargs.
set -euo pipefail
usage="usage: serial-queue.sh REPO JOBS VERIFY AGENT [ARGS...]"
repo=$(cd "${1:?$usage}" && pwd)
jobs=${2:?$usage}
verify=${3:?$usage}
shift 3
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
cd "$repo"
base=$(git symbolic-ref --short HEAD)
wtdir="$(git rev-parse --absolute-git-dir)/serial-queue-worktrees"
mkdir -p "$wtdir"
lock="$(git rev-parse --absolute-git-dir)/serial-queue.lock"
export repo base wtdir lock verify
trap 'git worktree remove --force "$wtdir/.queue" 2>/dev/null; rm -rf "$wtdir"' EXIT

# The queue's scratch worktree.
git worktree add --quiet --detach "$wtdir/.queue" "$base"

# Merges BRANCH onto main's tip in the scratch worktree and verifies the result there, one
# at a time; main moves to the merge only if it passed.
merge() {
  flock "$lock" bash -c '
    cd "$wtdir/.queue"
    git checkout --quiet --detach "$base"
    git merge --quiet --no-ff --no-edit -m "Merge $1" "$1" ||
      { git merge --abort 2>/dev/null; exit 1; }
    sh -c "$verify" >/dev/null 2>&1 || exit 1
    git -C "$repo" merge --quiet --ff-only "$(git rev-parse HEAD)"' merge "$1"
}
export -f merge

one() {
  set -euo pipefail
  local id=${!#}
  local agent=("${@:1:$#-1}")
  local wt=$wtdir/$id branch=task/$id
  br update "$id" --claim --actor "serial-queue-$id" --json >/dev/null 2>&1 || return 0
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
  todo=()
  for id in $ids; do
    case $done_ids in *" $id "*) ;; *) todo+=("$id") ;; esac
  done
  [ ${#todo[@]} -gt 0 ] || break
  printf '%s\n' "${todo[@]}" | xargs -P "$jobs" -n 1 bash -c 'one "$@"' one "$@" || true
  done_ids+="${todo[*]} "
done
