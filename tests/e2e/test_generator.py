"""``clientevents generate`` with 20 users at 500 events/s against ``clientevents serve``; its
counts checked against what reached the lake, and ``clientevents tail`` following the bus."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_process import PASSWORD, ServeProcess, lake_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "clientevents", *args]


def _wait_for_lake(data_dir: Path, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 90
    events = lake_events(data_dir)
    while len({e["id"] for e in events}) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        events = lake_events(data_dir)
    return events


def _wait_for_tickets(serve: ServeProcess, count: int) -> list[dict[str, Any]]:
    """The built-in inbox's tickets once ``count`` arrived (or after 60 s)."""
    deadline = time.monotonic() + 60
    tickets: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        tickets = httpx.get(f"{serve.url}/inbox/tickets", params={"limit": 1000}).json()["tickets"]
        if len(tickets) >= count:
            break
        time.sleep(0.2)
    return tickets


def test_twenty_users_at_500_events_a_second_all_reach_the_lake(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "data")
    serve.start()
    try:
        _generate_and_check(serve)
    finally:
        serve.stop()


def _generate_and_check(serve: ServeProcess) -> None:
    data = str(serve.data_dir)
    tail = subprocess.Popen(_cli("tail", "--data-dir", data, "--json", "--count", "50"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run = subprocess.run(
            _cli("generate", "--users", "20", "--userid", "load", "--password", PASSWORD,
                 "--create-users", "--rate", "500", "--duration", "4s", "--errors",
                 "--loyalty", "--json", "--endpoint-url", serve.url, "--data-dir", data),
            capture_output=True, text=True, timeout=180,
        )
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout)
        followed, tail_errors = tail.communicate(timeout=60)
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.communicate()  # reaped and its pipes closed: nothing left for a later test
    # The generator kept its schedule: 500 events/s for 4 s, in batches of 10.
    assert summary["users"] == 20
    assert summary["requests"] == 200 and summary["sent"] == 2000
    assert summary["elapsed_secs"] >= 4.0  # the run covers the whole schedule
    assert summary["skipped"] == 0
    malformed = summary["sent_by_type"].get("shopping (malformed)", 0)
    assert malformed > 0
    assert summary["rejected"] == {"MalformedDetail": malformed}
    assert summary["accepted"] == 2000 - malformed

    # Every accepted entry reached the lake once, from 20 clients, type by type.
    events = _wait_for_lake(serve.data_dir, summary["accepted"])
    assert len(events) == summary["accepted"]
    assert len({e["id"] for e in events}) == summary["accepted"]
    # The lake's transform moved each event's clientId into detail.accountNumber.
    assert len({e["detail"]["accountNumber"] for e in events}) == 20
    assert all(e["resources"] == [] for e in events)
    by_type = Counter(e["detail"]["eventType"] for e in events)
    expected = {k: v for k, v in summary["sent_by_type"].items() if k != "shopping (malformed)"}
    assert dict(by_type) == expected
    assert len(_wait_for_tickets(serve, expected["loyaltypurchase"])) == \
        expected["loyaltypurchase"]

    # tail followed the bus live: the first 50 events as JSON Lines, then stopped.
    assert tail.returncode == 0, tail_errors
    lines = [json.loads(line) for line in followed.splitlines()]
    assert len(lines) == 50
    lake_ids = {e["id"] for e in events}
    assert all(e["source"] == "clientevents" and e["id"] in lake_ids for e in lines)
