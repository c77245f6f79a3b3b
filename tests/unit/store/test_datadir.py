"""The data directory is private: folder 0700, every file 0600, and a warning when wider."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from clientevents.config import default_settings
from clientevents.identity import build_identity
from clientevents.runtime import Runtime
from clientevents.store.datadir import check_data_dir, warn_if_wider
from clientevents.store.engine import Database
from clientevents.targets.dispatcher import DispatchOptions


@pytest.fixture(autouse=True)
def lax_umask() -> Iterator[None]:
    """Run each test under the common umask 022, as a shell usually starts a process."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(folder: Path) -> dict[str, int]:
    modes = {".": stat.S_IMODE(folder.stat().st_mode)}
    for entry in folder.rglob("*"):
        modes[str(entry.relative_to(folder))] = stat.S_IMODE(entry.lstat().st_mode)
    return modes


def test_everything_the_service_writes_is_private_to_its_owner(tmp_path: Path) -> None:
    # Given the embedded default started on a new data directory under umask 022
    data_dir = tmp_path / "data"
    entry = {"Source": "clientevents", "DetailType": "prod", "EventBusName": "client_event_bus",
             "Detail": '{"eventType": "loyaltypurchase", "schemaVersion": 1, "ticket": {}}',
             "Resources": ["c1"]}
    with Runtime(default_settings(), data_dir,
                 dispatch_options=DispatchOptions(poll_interval_secs=0.01)) as runtime:
        identity = build_identity(runtime.settings, runtime.db, data_dir)  # admin key, codes
        assert identity.user_pool is not None
        identity.user_pool.sign_up("alice", "Passw0rd!", [{"Name": "email",
                                                         "Value": "a@example.com"}])
        assert runtime.publisher.put_events([entry])["FailedEntryCount"] == 0

        async def route_and_deliver() -> None:
            await runtime.router.route_once()
            await runtime.dispatchers.drain_once()
            await runtime.dispatchers.close()

        asyncio.run(route_and_deliver())
        modes = _modes(data_dir)
    # I expect the database, its -wal and -shm, the admin key, the codes and a lake object
    for name in ("clientevents.db", "clientevents.db-wal", "clientevents.db-shm",
                 "admin-credentials.json", "codes/messages.jsonl"):
        assert modes.get(name) == 0o600, (name, modes)
    objects = [n for n in modes if n.startswith("lake/loyaltypurchase/1/")
               and (data_dir / n).is_file()]
    assert objects and all(modes[n] == 0o600 for n in objects), modes
    # and every folder, the data directory first, to be 0700, every file 0600
    for name, mode in modes.items():
        expected = 0o700 if (data_dir / name).is_dir() else 0o600
        assert mode == expected, (name, oct(mode))
    assert check_data_dir(data_dir) == []


def test_a_database_opened_alone_is_private_whatever_the_umask(tmp_path: Path) -> None:
    with Database(tmp_path / "db" / "clientevents.db") as db:
        db.write(lambda conn: conn.execute("CREATE TABLE t (x)"))
        modes = _modes(tmp_path / "db")
    assert modes["."] == 0o700
    assert modes["clientevents.db"] == 0o600
    assert modes["clientevents.db-wal"] == 0o600


def test_a_wider_data_directory_is_named_in_a_warning_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a data directory an earlier version left world-readable
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    (data_dir / "clientevents.db").write_bytes(b"")
    (data_dir / "clientevents.db").chmod(0o644)
    (data_dir / "private.json").write_bytes(b"")
    (data_dir / "private.json").chmod(0o600)
    # When the service checks it at start
    with caplog.at_level(logging.WARNING, logger="clientevents.store"):
        wider = warn_if_wider(data_dir)
    # I expect the folder and the database named, with the fix, and the private file not
    assert sorted(p.name for p, _ in wider) == ["clientevents.db", "data"]
    message = caplog.records[-1].getMessage()
    assert "clientevents.db (0644)" in message and f"{data_dir} (0755)" in message
    assert "private.json" not in message
    assert f"chmod -R go-rwx {data_dir}" in message


def test_a_private_data_directory_gives_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Runtime(default_settings(), tmp_path / "data"):
        pass
    with caplog.at_level(logging.WARNING, logger="clientevents.store"):
        assert warn_if_wider(tmp_path / "data") == []
    assert not caplog.records
