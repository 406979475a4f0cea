#!/usr/bin/env bash
# Installs headless Chromium (Debian's package `chromium-headless-shell`), which hew's
# end-to-end tests use to render `hew loop report` the way a browser does. Idempotent:
# does nothing when /usr/bin/chromium-headless-shell is there. Needs root (or sudo) and
# apt; elsewhere it says so and leaves the choice to HEW_REQUIRE_CHROMIUM.
set -euo pipefail

bin=/usr/bin/chromium-headless-shell
if [ -x "$bin" ]; then
  echo "chromium-headless-shell already installed: $("$bin" --version 2>/dev/null || echo "$bin")"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: no apt-get here; install chromium-headless-shell by hand" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "install-chromium: needs root (or sudo) to apt-get install chromium-headless-shell" >&2
    exit 1
  }
  sudo=(sudo)
fi
echo "installing chromium-headless-shell..."
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null
"$bin" --version
