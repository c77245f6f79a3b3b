"""``clientevents serve`` with its whole state on PostgreSQL: a user signs up and signs in,
events go in, reach the lake and the built-in ticket inbox, and are still there after a
restart. The configuration is the embedded default with a ``storage:`` section."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from gateway_process import Newcomer, ServeProcess, lake_events, sample_request
from store_helpers import PG_DSN, pg_schema_name, require_service, storage_section

from clientevents.config.defaults import BLUEPRINT

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.own_backend]


def _wait(check: Callable[[], bool], secs: float = 60) -> None:
    deadline = time.monotonic() + secs
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def pg_config(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = pg_schema_name()
    path = tmp_path / "postgres.yaml"
    path.write_text(yaml.safe_dump({**BLUEPRINT, "storage": storage_section(schema)}))
    try:
        yield path, schema
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _count(schema: str, table: str) -> int:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{schema}".{table}').fetchone()
    assert row is not None
    return int(row[0])


def test_serve_on_postgres_signs_users_in_and_delivers_to_the_lake_and_the_inbox(
    tmp_path: Path, pg_config: tuple[Path, str]
) -> None:
    config, schema = pg_config
    data = tmp_path / "data"
    serve = ServeProcess(data, config=config)
    banner = serve.start()
    try:
        token = Newcomer(serve.url, data).access_token("pg-user")
        answer = httpx.post(f"{serve.url}/prod/event", json=sample_request(),
                            headers={"Authorization": token})
        assert answer.status_code == 200, answer.text
        assert answer.json()["FailedEntryCount"] == 0
        ids = {e["EventId"] for e in answer.json()["Entries"]}

        def tickets() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = httpx.get(f"{serve.url}/inbox/tickets").json()[
                "tickets"]
            return found

        _wait(lambda: len(tickets()) >= 1)
        [ticket] = tickets()
        assert ticket["event_id"] in ids
        _wait(lambda: ids <= {event["id"] for event in lake_events(data)})
    finally:
        serve.stop()
    assert "PostgreSQL" in banner
    # The state is in PostgreSQL, not in a file of the data folder.
    assert not (data / "clientevents.db").exists()
    assert _count(schema, "users") == 1
    assert _count(schema, "inbox_tickets") == 1
    assert _count(schema, "consumer_offsets") >= 1
    # Still there after a restart; the user signs in again with the same password.
    again = ServeProcess(data, config=config)
    again.start()
    try:
        assert len(httpx.get(f"{again.url}/inbox/tickets").json()["tickets"]) == 1
    finally:
        again.stop()
