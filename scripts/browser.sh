#!/usr/bin/env bash
# Installs headless Chromium and chromedriver (Debian packages), which the
# dashboard's browser test (tests/dashboard.rs) drives. Idempotent: does
# nothing when /usr/bin/chromedriver is there.
set -euo pipefail

if [ -x /usr/bin/chromedriver ] && [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "browser: run as root (or with sudo) to install chromium and chromium-driver" >&2
  exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Quiet unless it fails; then the whole apt output.
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "browser: installing chromium and chromium-driver failed" >&2
  exit 1
fi
echo "browser: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
