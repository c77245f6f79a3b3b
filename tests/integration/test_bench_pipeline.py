"""The pipeline benchmark runs end to end on a short run (no speed is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from store_helpers import TEST_BACKEND

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        TEST_BACKEND != "embedded",
        reason="bench.pipeline measures the embedded SQLite deployment: it samples the "
        "backlog from clientevents.db with sqlite3",
    ),
]

ROOT = Path(__file__).resolve().parents[2]


def test_bench_pipeline_short_run_measures_every_stage() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.pipeline", "--seconds", "3", "--users", "5",
         "--rate", "300", "--probes-per-sec", "8", "--connections", "4"],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "gateway alone  closed loop" in out
    # every stage's progress is sampled, the lake fed from the log,
    assert "log:router" in out and "log:archive:client_event_archive" in out
    assert re.search(r"log:stream:client_event_bus/client_events_to_lake/lake \d", out)
    # the probes reached the lake and the ticket sink,
    lake = [int(n) for n in re.findall(r"lake durable p50 [\d.]+ s p99 [\d.]+ s \(n=(\d+)\)", out)]
    tickets = [int(n) for n in re.findall(r"ticket call p50 [\d.]+ s p99 [\d.]+ s \(n=(\d+)\)",
                                          out)]
    assert len(lake) == 2 and min(lake) > 0 and len(tickets) == 2 and min(tickets) > 0
    # and the amplification and the summary are printed.
    assert "rows/event" in out and "sustained end to end: 300 events/s" in out
