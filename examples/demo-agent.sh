#!/bin/sh
# demo-agent.sh: a stand-in coding agent for demos of hew's `command` runtime, for machines
# with no model to call. It reads the prompt on stdin, writes docs/<task-id>.md with the
# task's title (taken from the prompt's `id:` and `title:` lines, or $HEW_TASK_ID), commits
# it with the task id in the message, works for $DEMO_AGENT_SECONDS seconds (default 1) so
# parallel workers are visible, printing one assistant event per second, and prints a
# Claude-style stream-json (init, the assistant events, a result with usage, modelUsage and
# total_cost_usd) so hew can count its tokens, live and in total.
#
# Use it from .hew/config.toml (an absolute path: hew runs it inside each task's worktree):
#
#   [loop.agent]
#   runtime = "command"
#   command = ["sh", "/abs/path/to/examples/demo-agent.sh", "{model}"]
#
# $1 is the model to report (default claude-haiku-4-5). Needs only sh, git, printf, sed
# (and mkdir, sleep).
set -eu

model=${1:-claude-haiku-4-5}
prompt=$(sed -n p)

field() { printf '%s\n' "$prompt" | sed -n "s/^[[:space:]]*$1:[[:space:]]*//p" | sed -n 1p; }
json() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g; s/	/\\t/g'; }

id=${HEW_TASK_ID:-$(field id)}
id=${id:-task}
title=$(field title)
title=${title:-$id}
attempt=${HEW_ATTEMPT:-1}

mkdir -p docs
printf '# %s\n\nTask `%s`, worked on by the demo agent (model %s, attempt %s).\n' \
  "$title" "$id" "$model" "$attempt" >"docs/$id.md"
git add "docs/$id.md"
if git diff --cached --quiet; then
  : # the same note is already committed
elif git config user.email >/dev/null; then
  git commit --quiet -m "$id: $title"
else
  git -c user.name="demo agent" -c user.email=demo-agent@example.invalid \
    commit --quiet -m "$id: $title"
fi

session="demo-$id-$attempt"
cwd=$(json "$(pwd)")
printf '{"type":"system","subtype":"init","session_id":"%s","model":"%s","cwd":"%s","tools":["Bash","Read","Write"]}\n' \
  "$session" "$(json "$model")" "$cwd"

# Token figures that grow with the prompt and the title, like a real run's would.
input=$((1500 + ${#prompt} / 4))
output=$((180 + ${#title} * 3))
cache_read=12000
cache_write=2000
text=$(json "Wrote docs/$id.md for \"$title\" and committed it.")
# One assistant message per second, each with its share of the input (the cache write on
# the first), as a real session's turns would report them.
steps=${DEMO_AGENT_SECONDS:-1}
case $steps in '' | *[!0-9]*) steps=1 ;; esac
[ "$steps" -ge 1 ] || steps=1
step=1
while [ "$step" -le "$steps" ]; do
  write=0
  [ "$step" -eq 1 ] && write=$cache_write
  printf '{"type":"assistant","message":{"id":"msg_demo_%s_%d","type":"message","role":"assistant","model":"%s","content":[{"type":"text","text":"%s"}],"usage":{"input_tokens":%d,"cache_creation_input_tokens":%d,"cache_read_input_tokens":%d,"output_tokens":1}},"session_id":"%s"}\n' \
    "$(json "$id")" "$step" "$(json "$model")" "$text" $((input / steps)) "$write" \
    $((cache_read / steps)) "$session"
  sleep 1
  step=$((step + 1))
done

# Cost in hundredths of a micro-dollar: list prices in USD per million tokens
# (input, output, cache write, cache read) times 100.
case $model in
  *opus*) p_in=500 p_out=2500 p_cw=625 p_cr=50 ;;
  *sonnet*) p_in=300 p_out=1500 p_cw=375 p_cr=30 ;;
  *) p_in=100 p_out=500 p_cw=125 p_cr=10 ;;
esac
micro=$(((input * p_in + output * p_out + cache_write * p_cw + cache_read * p_cr) / 100))
cost=$(printf '%d.%06d' $((micro / 1000000)) $((micro % 1000000)))

printf '{"type":"result","subtype":"success","is_error":false,"duration_ms":1000,"num_turns":1,"result":"%s","session_id":"%s","total_cost_usd":%s,"usage":{"input_tokens":%d,"cache_creation_input_tokens":%d,"cache_read_input_tokens":%d,"output_tokens":%d},"modelUsage":{"%s":{"inputTokens":%d,"outputTokens":%d,"cacheReadInputTokens":%d,"cacheCreationInputTokens":%d,"costUSD":%s}}}\n' \
  "$text" "$session" "$cost" "$input" "$cache_write" "$cache_read" "$output" \
  "$(json "$model")" "$input" "$output" "$cache_read" "$cache_write" "$cost"
