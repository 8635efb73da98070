#!/bin/sh
# Install Debian's chromium for the dashboard browser test (tests/integration/test_api_browser.py).
# Idempotent: does nothing when a chromium binary is already on PATH. Needs root (CI containers run as root).
set -eu
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium: run as root (apt-get install chromium)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium
