#!/usr/bin/env bash
# Run the whole test suite (lint, types, tests), creating .venv if needed.
#
# Without arguments: every test on the embedded default (SQLite and local files) and, at the
# same time, the integration and end-to-end tests again on PostgreSQL + NATS JetStream
# (CLIENTEVENTS_TEST_BACKEND=postgres+jetstream; each test gets its own schema and streams on
# the machine's servers, and skips with the reason when they do not answer). With arguments:
# pytest with those arguments, once, on the backend CLIENTEVENTS_TEST_BACKEND names (embedded
# when unset).
#
# Most of the suite's time is spent waiting on processes and servers, not on the CPU, so each
# pass runs its test files in parallel (pytest-xdist, one file per worker at a time):
# CLIENTEVENTS_TEST_WORKERS processes for the embedded pass (default 3), two for the backend.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
.venv/bin/ruff check src tests bench
.venv/bin/mypy
if [ "$#" -gt 0 ]; then
    exec .venv/bin/python -m pytest "$@"
fi
backend_log="$(mktemp -t clientevents-backend-tests.XXXXXX)"
trap 'rm -f "$backend_log"' EXIT
workers="${CLIENTEVENTS_TEST_WORKERS:-3}"
CLIENTEVENTS_TEST_BACKEND=postgres+jetstream .venv/bin/python -m pytest -p no:cacheprovider \
    -n 2 --dist loadfile tests/integration tests/e2e >"$backend_log" 2>&1 &
backend_pid=$!
embedded=0
.venv/bin/python -m pytest -n "$workers" --dist loadfile || embedded=$?
backend=0
wait "$backend_pid" || backend=$?
echo
echo "==== integration and end-to-end tests on PostgreSQL + NATS JetStream ===="
cat "$backend_log"
echo "embedded default: exit $embedded; PostgreSQL + JetStream: exit $backend"
[ "$embedded" -eq 0 ] && [ "$backend" -eq 0 ]
