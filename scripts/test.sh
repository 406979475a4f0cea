#!/usr/bin/env bash
# Sets up and runs every check hew has: installs the br tracker when it is missing (the
# first time takes 10-15 minutes), then formatting, the full test suite against the real
# tracker, and clippy. Run from anywhere: `scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

bash scripts/install-br.sh
export HEW_REQUIRE_BR=1

cargo fmt --all --check
cargo test --workspace --locked
cargo clippy --workspace --all-targets --locked -- -D warnings
