"""The delivery stream benchmark's quick mode runs end to end (no timing is asserted)."""

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
        reason="bench.delivery_stream measures on the embedded SQLite store (it opens "
        "clientevents.db itself, whatever the backend); the embedded pass runs it",
    ),
]

ROOT = Path(__file__).resolve().parents[2]


def test_bench_delivery_stream_quick_mode_prints_every_part() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.delivery_stream", "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "gzip JSON lines" in out and "Parquet (snappy)" in out
    assert out.count("ratio pipeline/ceiling") == 2
    assert "records/s" in out and "MB/s" in out
    assert "through the delivery queue" in out
