"""A replay runner that dies between a publish and its commit: it runs the replays of the
state store on the JetStream log and SIGKILLs itself right after the bus acknowledged the
events of its ``KILL_AT``-th batch, before the step's write (the replay's progress) commits.

Usage: ``python _jetstream_replay_child.py STORE STREAM_PREFIX SETTINGS_JSON KILL_AT
DUPLICATE_WINDOW``; prints ``PUBLISHED <id> <id> ...`` (the dying batch's event ids) before
it dies. ``STORE`` is ``sqlite:<file>`` or ``postgres:<schema>`` (on
``CLIENTEVENTS_TEST_PG_DSN``).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import orjson

from clientevents.archive.runner import ReplayRunner
from clientevents.config import validate_settings
from clientevents.events.publisher import Publisher
from clientevents.log.jetstream import JetStreamEventLog, JetStreamOptions
from clientevents.store.engine import Database


def main() -> None:
    store, prefix, settings_json, kill_at, window = sys.argv[1:6]
    settings = validate_settings(orjson.loads(settings_json), environ={})
    kind, _, where = store.partition(":")
    db: Any
    if kind == "postgres":
        from clientevents.store.postgres import PostgresDatabase

        db = PostgresDatabase(os.environ["CLIENTEVENTS_TEST_PG_DSN"], schema=where, pool_max=2)
    else:
        db = Database(where)
    log = JetStreamEventLog(db, JetStreamOptions(stream_prefix=prefix,
                                                 duplicate_window=float(window)))
    publisher = Publisher(db, settings, log=log)
    real = publisher.append_in
    batches = 0

    def dying(conn: Any, entries: Any) -> Any:
        nonlocal batches
        answer = real(conn, entries)  # on the bus: JetStream acknowledged every event
        batches += 1
        if batches == int(kill_at):
            ids = " ".join(str(e["Id"]) for e in entries)
            print(f"PUBLISHED {ids}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # before the progress commits
        return answer

    publisher.append_in = dying  # type: ignore[method-assign]
    runner = ReplayRunner(db, settings, publisher=publisher, batch_size=2)
    while True:
        runner.step_all()


if __name__ == "__main__":
    main()
