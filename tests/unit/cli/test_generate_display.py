"""What ``generate`` shows: the live display's row and the summary table."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from clientevents.cli.generate import _print_summary, _progress
from clientevents.generator import Snapshot


def test_the_live_display_shows_counts_rate_and_latency() -> None:
    snap = Snapshot(elapsed_secs=12.0, requests=60, sent=600, accepted=540,
                    rejected={"MalformedDetail": 50, "HTTP 429": 10}, skipped=0, in_flight=3,
                    current_rate=49.6, p50_ms=4.2, p99_ms=18.75)
    console = Console(width=200, record=True)
    console.print(_progress(snap))
    text = console.export_text()
    for part in ("12 s", "600", "540", "HTTP 429 10, MalformedDetail 50", "50/s", "4.2 ms",
                 "18.8 ms", "Ctrl-C stops"):
        assert part in text


def test_the_summary_names_every_figure(capsys: Any) -> None:
    _print_summary({
        "url": "http://h/prod/event", "users": 2, "batch": 10, "target_rate_per_sec": None,
        "interval_secs": 10.0, "elapsed_secs": 60.0, "requests": 12, "sent": 120,
        "accepted": 110, "rejected": {"MalformedDetail": 10}, "rejected_total": 10,
        "skipped": 0, "sent_by_type": {}, "rate_per_sec": 2.0,
        "latency_ms": {"p50": 3.0, "p90": 5.0, "p99": 9.0, "max": 12.0},
        "token_refreshes": 1, "relogins": 0, "sign_in_failures": 0,
        "sign_in_errors": ["gen-2: NotAuthorizedException: Incorrect username or password."],
    })
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Summary"
    rows = [" ".join(line.split()) for line in out[1:]]
    for row in ("Users 2", "Accepted 110", "Rejected 10 (MalformedDetail 10)",
                "Latency p50 3.0 ms, p90 5.0 ms, p99 9.0 ms, max 12.0 ms", "Rate 2.0/s",
                "Token refreshes 1",
                "Sign-in errors gen-2: NotAuthorizedException: Incorrect username or password."):
        assert row in rows
