#!/usr/bin/env bash
# Run clientevents on the embedded default (SQLite + local files in ./data), creating .venv if needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
exec "$root/.venv/bin/clientevents" serve "$@"
