#!/usr/bin/env bash
# Sets up and runs every check hew has: installs the br tracker when it is missing (the
# first time takes 10-15 minutes), headless Chromium (apt) for the report's browser test,
# and the pinned agent CLIs (npm, when node is there),
# then formatting, the full test suite against the real tracker and agent CLIs, and
# clippy. Run from anywhere: `scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

bash scripts/install-br.sh
export HEW_REQUIRE_BR=1

bash scripts/install-chromium.sh
export HEW_REQUIRE_CHROMIUM=1

bash scripts/install-agents.sh
if command -v node >/dev/null 2>&1; then export HEW_REQUIRE_AGENTS=1; fi

cargo fmt --all --check
cargo test --workspace --locked
cargo clippy --workspace --all-targets --locked -- -D warnings
