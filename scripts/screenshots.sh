#!/usr/bin/env bash
# Take a screenshot of each console page (docs/console/*.png) with the same headless Chromium
# the browser tests use, against a deployment on loopback filled with sample traffic.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
.venv/bin/python scripts/console_screenshots.py "${1:-docs/console}"
