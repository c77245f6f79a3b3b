"""The ingest benchmark runs end to end in its quick mode (figures are printed, not asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.own_backend]

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("client", ["auto", "httpx"])
def test_quick_benchmark_measures_every_target(client: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--quick", "--client", client],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for target in ("ceiling", "gateway", "moto"):
        row = next(line for line in lines if line.startswith(target))
        assert "req/s" in row and "events/s" in row and "failures 0" in row, row
    assert any("gateway/ceiling" in line and "gateway/moto" in line for line in lines)
    assert any(line.startswith("durable events appended") for line in lines)
