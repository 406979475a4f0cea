#!/usr/bin/env bash
# Quick start: builds hew, makes a demo repository with a br tracker and a handful of tasks
# (one tagged for a strong model, one labelled, a bug, an epic, a blocked task), routes
# them by priority and type, shows the plan, then runs the loop on it with a demo agent
# (examples/demo-agent.sh: no model needed) and prints the summary.
#
#   scripts/demo.sh [DIR]     DIR defaults to ./demo (recreated on every run)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo=${1:-$root/demo}
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

bash "$root/scripts/install-br.sh" >/dev/null
echo "building hew..."
cargo build --quiet --locked --manifest-path "$root/Cargo.toml" -p hew-cli
hew="${CARGO_TARGET_DIR:-$root/target}/debug/hew"

rm -rf "$demo"
mkdir -p "$demo"
cd "$demo"
git init --quiet --initial-branch main
git config user.name "hew demo"
git config user.email "demo@example.com"
printf '# demo\n\nA small project for hew to work on.\n' > README.md
git add README.md
git commit --quiet -m "initial commit"

br init --prefix demo >/dev/null
new() { br create "$@" --json | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -n 1; }
new "Write the project overview in README" -p 2 -t task >/dev/null
new "Redesign the storage layer" -p 1 -t feature \
  -d $'Split storage into its own module.\n<!-- hew:model=opus -->' >/dev/null
label=$(new "Add a --verbose flag" -p 2 -t feature)
br label add "$label" model:sonnet >/dev/null
fix=$(new "Fix the crash on empty input" -p 0 -t bug)
after=$(new "Add a regression test for empty input" -p 1 -t task)
br dep add "$after" "$fix" >/dev/null
new "Release 1.0" -p 1 -t epic >/dev/null

"$hew" config set tracker.command br
"$hew" config set loop.model.default claude-haiku-4-5
"$hew" config set loop.model.by_priority "P0=opus"
"$hew" config set loop.model.by_type "bug=sonnet"
"$hew" config set loop.agent.runtime command
"$hew" config set loop.agent.command "[\"sh\", \"$root/examples/demo-agent.sh\", \"{model}\"]"

echo
echo "demo repository: $demo"
echo
echo "\$ hew loop --dry-run"
"$hew" loop --dry-run
echo
echo "\$ hew loop -j 3"
# The demo agent works this many seconds per task, so the live progress lines are visible.
DEMO_AGENT_SECONDS=${DEMO_AGENT_SECONDS:-3} "$hew" loop -j 3
echo
echo "\$ git log --oneline --graph"
git --no-pager log --oneline --graph -n 12
