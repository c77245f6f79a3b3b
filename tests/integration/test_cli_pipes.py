"""A command whose reader goes away (``clientevents tail --json | head -1``) stops quietly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clientevents.config import default_settings
from clientevents.runtime import Runtime

pytestmark = pytest.mark.integration

JETSTREAM_DURABILITY_NOTICE = "The JetStream event log acknowledges events before they are on disk"


def test_tail_into_a_closed_pipe_exits_0_without_a_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Runtime(default_settings(), data) as runtime:  # the store and log `tail` reads
        for _ in range(20):
            runtime.publisher.put_events([
                {"Source": "clientevents", "DetailType": "prod",
                 "EventBusName": "client_event_bus", "Detail": json.dumps({"n": n})}
                for n in range(10)
            ])
    proc = subprocess.Popen(
        [sys.executable, "-m", "clientevents", "tail", "--from-start", "--no-follow", "--json",
         "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = json.loads(proc.stdout.readline())
    assert first["source"] == "clientevents"
    proc.stdout.close()  # the reader goes away, as `head -1` does
    try:
        assert proc.wait(timeout=60) == 0
        # Nothing but the JetStream log's durability notice (on that backend) is printed.
        printed = [line for line in proc.stderr.read().splitlines()
                   if not line.startswith(JETSTREAM_DURABILITY_NOTICE)]
        assert printed == []
    finally:
        proc.stderr.close()
