"""The ``storage:`` section: its model, the factory it drives, and ``clientevents validate``
checking that a PostgreSQL store answers."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from store_helpers import NATS_URL, PG_DSN, require_service

from clientevents.cli import main
from clientevents.config import default_settings, load_config
from clientevents.errors import ConfigError
from clientevents.store.factory import MissingExtra, describe_store, open_store
from clientevents.store.sqlite import Database


def _write(tmp_path: Path, storage: dict[str, object]) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"storage": storage}))
    return path


def test_the_default_is_the_sqlite_file_in_the_data_folder(tmp_path: Path) -> None:
    settings = default_settings()
    assert settings.storage.store == "sqlite"
    assert settings.storage.log_backend == "sqlite"
    db = open_store(settings, tmp_path)
    try:
        assert isinstance(db, Database)
        assert db.path == tmp_path / "clientevents.db"
    finally:
        db.close()
    assert describe_store(settings, tmp_path) == f"SQLite {tmp_path / 'clientevents.db'}"


def test_postgres_settings_with_the_log_following_the_store(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setenv("PG_TEST_DSN", "postgresql://db.example:6543/events")
    settings = load_config(_write(tmp_path, {
        "store": "postgres", "postgres": {"dsn": "${env:PG_TEST_DSN}", "schema": "prod_events"},
        "jetstream": {"replicas": 3, "sync": "always"}}))
    assert settings.storage.log_backend == "postgres"
    assert settings.storage.postgres.schema_name == "prod_events"
    assert settings.storage.jetstream.replicas == 3
    assert settings.storage.jetstream.servers == ["nats://127.0.0.1:4222"]
    assert describe_store(settings, tmp_path) == (
        "PostgreSQL db.example:6543/events schema prod_events")


def test_a_log_on_another_sql_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="log: sqlite keeps the event log in the state store"):
        load_config(_write(tmp_path, {"store": "postgres", "log": "sqlite"}))
    settings = load_config(_write(tmp_path, {"store": "postgres", "log": "jetstream"}))
    assert settings.storage.log_backend == "jetstream"


def test_a_bad_schema_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="schema"):
        load_config(_write(tmp_path, {"store": "postgres", "postgres": {"schema": "Bad Name"}}))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_validate_names_a_postgres_store_that_does_not_answer(tmp_path: Path) -> None:
    dsn = f"host=127.0.0.1 port={_closed_port()} user=postgres dbname=test"
    path = _write(tmp_path, {"store": "postgres",
                             "postgres": {"dsn": dsn, "connect_timeout": 1}})
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert "storage.postgres.dsn: PostgreSQL does not answer" in result.output


def test_validate_accepts_a_postgres_store_that_answers(tmp_path: Path) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    path = _write(tmp_path, {"store": "postgres", "postgres": {"dsn": PG_DSN}})
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "is valid" in result.output


def test_validate_names_a_jetstream_log_that_does_not_answer(tmp_path: Path) -> None:
    path = _write(tmp_path, {"log": "jetstream",
                             "jetstream": {"servers": [f"nats://127.0.0.1:{_closed_port()}"]}})
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert "storage.jetstream.servers: NATS does not answer at nats://127.0.0.1:" in result.output


def test_validate_names_a_nats_server_without_jetstream(tmp_path: Path) -> None:
    import subprocess
    import time

    from nats_server import binary, free_port

    found = binary()
    if found is None:
        pytest.skip("no nats-server binary on this machine")
    port = free_port()
    proc = subprocess.Popen([found, "-a", "127.0.0.1", "-p", str(port)],  # no -js
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:  # a bound that fails a server that never starts, not a timing assertion
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "no nats-server"
                time.sleep(0.05)
        path = _write(tmp_path, {"log": "jetstream",
                                 "jetstream": {"servers": [f"nats://127.0.0.1:{port}"]}})
        result = CliRunner().invoke(main, ["validate", str(path)])
    finally:
        proc.kill()
        proc.wait()
    assert result.exit_code == 1
    assert "storage.jetstream.servers: NATS at" in result.output
    assert "JetStream does not" in result.output


def test_validate_accepts_postgres_and_jetstream_that_answer(tmp_path: Path) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("NATS", "127.0.0.1", 4222)
    path = _write(tmp_path, {"store": "postgres", "log": "jetstream",
                             "postgres": {"dsn": PG_DSN}, "jetstream": {"servers": [NATS_URL]}})
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "is valid" in result.output


def test_a_missing_driver_names_the_extra_to_install(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_config(_write(tmp_path, {"store": "postgres"}))
    monkeypatch.setitem(sys.modules, "clientevents.store.postgres", None)  # as if not installed
    with pytest.raises(MissingExtra, match=r"pip install 'clientevents\[postgres\]'"):
        open_store(settings, tmp_path)


def test_the_storage_section_can_come_from_the_environment(tmp_path: Path) -> None:
    environ = {"CLIENTEVENTS_STORAGE": '{"store": "postgres", "log": "jetstream", '
               '"postgres": {"schema": "s1", "dsn": "${env:DSN}"}}', "DSN": "host=db"}
    settings = default_settings(environ)
    assert settings.storage.store == "postgres"
    assert settings.storage.log_backend == "jetstream"
    assert settings.storage.postgres.schema_name == "s1"
    assert settings.storage.postgres.dsn == "host=db"
    path = tmp_path / "plain.yaml"
    path.write_text("buses: [{name: default}]\n")
    assert load_config(path, environ=environ).storage.store == "postgres"
    # A file's own storage section wins over the variable.
    own = _write(tmp_path, {"store": "sqlite"})
    assert load_config(own, environ=environ).storage.store == "sqlite"


@pytest.mark.parametrize("text", ["[1, 2]", "{store: [", "just text"])
def test_a_storage_variable_that_is_not_a_mapping_is_named(text: str) -> None:
    with pytest.raises(ConfigError, match="CLIENTEVENTS_STORAGE"):
        default_settings({"CLIENTEVENTS_STORAGE": text})
