from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from clientevents.log.eventlog import EventLog
from clientevents.log.factory import configured_log, jetstream_options, open_log
from clientevents.log.jetstream import JetStreamOptions
from clientevents.log.memory import MemoryEventLog
from clientevents.store.engine import Database


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = Database(tmp_path / "x.db")
    yield database
    database.close()


def test_open_log_picks_the_sql_or_memory_log(db: Database) -> None:
    assert isinstance(open_log("sqlite", db), EventLog)
    assert isinstance(open_log("postgres", db), EventLog)
    assert isinstance(open_log("memory", db), MemoryEventLog)
    with pytest.raises(ValueError, match="sqlite, postgres, memory or jetstream"):
        open_log("kafka", db)


def test_a_configuration_without_storage_keeps_the_log_in_the_store(db: Database) -> None:
    assert isinstance(configured_log(SimpleNamespace(), db), EventLog)
    storage = SimpleNamespace(log_backend="sqlite")
    assert isinstance(configured_log(SimpleNamespace(storage=storage), db), EventLog)


def test_jetstream_settings_become_options() -> None:
    section = SimpleNamespace(
        servers=["nats://a:4222", "nats://b:4222"], stream_prefix="prod", replicas=3,
        storage="file", max_age=0, duplicate_window="2m", sync="always",
    )
    assert jetstream_options(section) == JetStreamOptions(
        servers=("nats://a:4222", "nats://b:4222"), stream_prefix="prod", replicas=3,
        max_age=0.0, duplicate_window=120.0, sync="always",
    )
    assert jetstream_options(SimpleNamespace(duplicate_window="500ms")).duplicate_window == 0.5
    with pytest.raises(ValueError, match="duration"):
        jetstream_options(SimpleNamespace(duplicate_window="soon"))
    with pytest.raises(ValueError, match="stream_prefix"):
        JetStreamOptions(stream_prefix="a.b")
