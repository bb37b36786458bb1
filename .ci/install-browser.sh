#!/usr/bin/env bash
# CI: headless Chromium and its driver for tests/integration/test_ui.py (Debian packages).
# Idempotent: installs only when either is missing. Needs root (CI runs as root).
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium chromium-driver
