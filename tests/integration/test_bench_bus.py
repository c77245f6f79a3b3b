"""The bus benchmark's quick mode runs end to end (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from store_helpers import TEST_BACKEND

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        TEST_BACKEND != "embedded",
        reason="bench.bus measures the embedded SQLite store: it opens clientevents.db itself "
        "and waits for its worker's file",
    ),
]

ROOT = Path(__file__).resolve().parents[2]


def test_bench_bus_quick_mode_prints_every_part() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.bus", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1. durable put_events" in out
    assert "ratio" in out
    assert "2. router, 1000 rules" in out
    assert "events/s" in out
    assert "3. latency put_events -> log target line" in out
    assert "p99" in out
    assert "warning" not in out  # every published event reached the log target
