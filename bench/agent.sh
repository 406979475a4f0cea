#!/bin/sh
# The benchmark's stand-in agent: waits SECONDS (0: not at all), then writes and commits
# done/<task-id>.txt in its working directory. It uses nothing but sh, git and sleep, so
# every contender pays the same for it.
#
#   agent.sh SECONDS [TASK_ID]      TASK_ID defaults to $HEW_TASK_ID
#
# hew runs it with runtime `command` and
#   command = ["sh", "/abs/bench/agent.sh", "2", "{task_id}"]
# the rival scripts run it the same way, with the task id as the last argument.
set -eu
secs=${1:?usage: agent.sh SECONDS [TASK_ID]}
id=${2:-${HEW_TASK_ID:?no task id}}
case $secs in 0 | 0.0 | 0.00) ;; *) sleep "$secs" ;; esac
mkdir -p done
printf '%s\n' "$id" >"done/$id.txt"
git add "done/$id.txt"
git commit --quiet -m "$id: done"
