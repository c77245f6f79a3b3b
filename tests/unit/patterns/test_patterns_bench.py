"""The matcher benchmark runs end to end in quick mode (figures are not asserted)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_benchmark_quick_mode(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    bench = importlib.import_module("bench.matcher")
    results = bench.main(["--quick"])
    out = capsys.readouterr().out
    assert "events/s" in out and "loop over EventPattern.matches" in out
    assert set(results["sizes"]) == {10, 100}
    assert all(r["memory_bytes"] > 0 for r in results["sizes"].values())
