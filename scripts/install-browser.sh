#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser, driven by Playwright). Idempotent: does
# nothing when /usr/bin/chromium exists. Never downloads a browser build (no `playwright install`).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium
