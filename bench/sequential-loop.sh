#!/usr/bin/env bash
# A rival for the benchmark: the loop that simple loop runners implement. One task at a
# time: ask the tracker for the next ready task, claim it, run the agent in the main
# checkout, commit whatever it left uncommitted, close the task; until nothing is ready.
#
#   sequential-loop.sh REPO AGENT [ARGS...]
#
# The task id is appended to the agent's arguments. Needs br, git and jq.
set -euo pipefail
repo=${1:?usage: sequential-loop.sh REPO AGENT [ARGS...]}
shift
[ $# -gt 0 ] || { echo "usage: sequential-loop.sh REPO AGENT [ARGS...]" >&2; exit 2; }
cd "$repo"
actor=sequential-loop

while :; do
  id=$(br ready --json --limit 1 --sort priority | jq -r '.[0].id // empty')
  [ -n "$id" ] || break
  br update "$id" --claim --actor "$actor" --json >/dev/null
  if ! "$@" "$id"; then
    echo "agent failed on $id; releasing it and stopping" >&2
    git reset --quiet --hard
    br update "$id" --status open --assignee "" --json >/dev/null
    exit 1
  fi
  if [ -n "$(git status --porcelain)" ]; then
    git add -A
    git commit --quiet -m "$id: work left uncommitted by the agent"
  fi
  br close "$id" --reason "done" --json >/dev/null
done
