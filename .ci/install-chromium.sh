#!/usr/bin/env bash
# Installs Debian's chromium for the viewer's headless-browser test (tests/report/test_browser.py),
# unless a chromium binary is already on PATH. Idempotent; needs root or sudo and the Debian archive.
set -euo pipefail
for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
chromium --version
