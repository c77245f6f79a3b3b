"""The JetStream log when its server goes away: appends fail with StoreError (the gateway's
503) instead of hanging or pretending, and work again, with nothing acknowledged lost, once
the server is back. Runs a nats-server of its own (never the shared one)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clientevents.errors import StoreError
from clientevents.log.jetstream import JetStreamEventLog, JetStreamOptions
from clientevents.log.records import LogRow
from clientevents.store.engine import Database

sys.path.insert(0, str(Path(__file__).parents[1]))
from support.nats_server import NatsServer, binary

pytestmark = [pytest.mark.integration, pytest.mark.own_backend]

DEADLINE_SECS = 60.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    if binary() is None:
        pytest.skip("no nats-server binary on this machine")
    (tmp_path / "nats").mkdir()
    own = NatsServer(tmp_path / "nats")
    own.start()
    yield own
    own.kill()


def row(n: int) -> LogRow:
    now = time.time()
    return LogRow("b", f"id-{n}", now, now, f'{{"n":{n}}}', None, None)


def test_appends_fail_while_the_server_is_down_and_resume_after(
    tmp_path: Path, server: NatsServer
) -> None:
    db = Database(tmp_path / "state.db")
    log = JetStreamEventLog(db, JetStreamOptions(servers=(server.url,), timeout=1.0))
    try:
        log.append_records([row(1)])
        server.kill()
        with pytest.raises(StoreError):
            log.append_records([row(2)])

        async def append_async() -> None:
            await log.append_future([row(3)])

        with pytest.raises(StoreError):
            asyncio.run(append_async())
        server.start()
        deadline = time.monotonic() + DEADLINE_SECS
        while True:  # the client reconnects by itself
            try:
                log.append_records([row(4)])
                break
            except StoreError:
                assert time.monotonic() < deadline, "appends never resumed"
                time.sleep(0.1)
        ids = [r.event_id for r in log.read_after("b", 0, 10)]
        assert ids[0] == "id-1" and ids[-1] == "id-4"  # the acknowledged one survived
    finally:
        log.close()
        db.close()
