#!/usr/bin/env bash
# Installs the pinned agent CLIs (scripts/agent-versions) with npm into a directory of
# their own, for hew's contract tests: never globally, never over another version.
# Idempotent: does nothing when the pinned versions are already there. Without node and
# npm it says so and exits 0: the contract tests then skip with the same message.
#
#   HEW_AGENTS_DIR   install prefix (default: ~/.cache/hew/agents); the programs end up in
#                    $HEW_AGENTS_DIR/node_modules/.bin/{claude,codex}
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${HEW_AGENTS_DIR:-$HOME/.cache/hew/agents}"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-agents: node and npm are not on PATH; the agent CLI contract tests will be skipped"
  exit 0
fi

packages=()
missing=0
while read -r name version; do
  case "$name" in ''|'#'*) continue ;; esac
  packages+=("$name@$version")
  installed="$(node -p "require('$dir/node_modules/$name/package.json').version" 2>/dev/null || true)"
  if [ "$installed" != "$version" ]; then missing=1; fi
done < scripts/agent-versions

if [ "$missing" = 0 ]; then
  echo "install-agents: ${packages[*]} already in $dir"
  exit 0
fi

echo "install-agents: installing ${packages[*]} into $dir..."
mkdir -p "$dir"
npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "${packages[@]}"
"$dir/node_modules/.bin/claude" --version
"$dir/node_modules/.bin/codex" --version
