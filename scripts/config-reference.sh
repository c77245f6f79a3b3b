#!/usr/bin/env bash
# Regenerate docs/configuration-reference.md from the configuration model (a test fails when
# the committed page is stale). Pass --check to only compare.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
.venv/bin/python -m clientevents.config.reference docs/configuration-reference.md \
    --examples examples "$@"
