#!/bin/sh
# The benchmark's stand-in agent: waits SECONDS (0: not at all), then writes and commits
# done/<task-id>.txt in its working directory. It uses nothing but sh, git and sleep, so
# every contender pays the same for it.
#
#   agent.sh SECONDS [TASK_ID]      TASK_ID defaults to $HEW_TASK_ID
#
# BENCH_ROLES (the verify scenario): a file of "TASK_ID LINE" pairs; a task listed there
# writes LINE instead of its id (BREAK, PAIR1, ...: see verify-check.sh).
#
# hew runs it with runtime `command` and
#   command = ["sh", "/abs/bench/agent.sh", "2", "{task_id}"]
# the rival scripts run it the same way, with the task id as the last argument.
set -eu
secs=${1:?usage: agent.sh SECONDS [TASK_ID]}
id=${2:-${HEW_TASK_ID:?no task id}}
case $secs in 0 | 0.0 | 0.00) ;; *) sleep "$secs" ;; esac
line=$id
if [ -n "${BENCH_ROLES:-}" ]; then
  role=$(awk -v id="$id" '$1 == id { print $2 }' "$BENCH_ROLES")
  [ -z "$role" ] || line=$role
fi
mkdir -p done
printf '%s\n' "$line" >"done/$id.txt"
git add "done/$id.txt"
git commit --quiet -m "$id: done"
