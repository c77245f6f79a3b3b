"""``clientevents serve --http-workers 2``: two gateway processes on one port, one database."""

from __future__ import annotations

import concurrent.futures
import os
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from gateway_process import Newcomer, ServeProcess, lake_events, sample_request

from clientevents.cli import main
from clientevents.ratelimit.shared import ENV_SHARED

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_gateway_processes_share_the_port_and_every_event_reaches_the_lake(
    tmp_path: Path,
) -> None:
    server = ServeProcess(tmp_path / "data", args=("--http-workers", "2"))
    banner = server.start()
    try:
        assert "granian (2 processes)" in banner
        token = Newcomer(server.url, server.data_dir).access_token("twoprocs")

        def send(_: int) -> list[str]:
            # A new connection each time, so both processes get some of them.
            response = httpx.post(f"{server.url}/prod/event", json=sample_request(),
                                  headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            return [entry["EventId"] for entry in response.json()["Entries"]]

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            ids = {event_id for batch in pool.map(send, range(40)) for event_id in batch}
        assert len(ids) == 200
        deadline = time.monotonic() + 60
        found: set[str] = set()
        while time.monotonic() < deadline and found != ids:
            found = {event["id"] for event in lake_events(server.data_dir)} & ids
            time.sleep(0.2)
        assert found == ids
    finally:
        assert server.stop() == 0


def test_several_gateway_processes_need_granian() -> None:
    before = os.environ.get(ENV_SHARED)
    result = CliRunner().invoke(main, ["serve", "--http-server", "uvicorn", "--http-workers", "2"])
    assert result.exit_code == 2
    assert "need --http-server granian" in result.output
    # refused before it changed anything of the process it runs in
    assert os.environ.get(ENV_SHARED) == before
