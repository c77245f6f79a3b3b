"""An archiver that dies between storing a batch in the archive's stream and its hand-off: it
archives from the JetStream log and SIGKILLs itself right after the archive stream
acknowledged its first batch, before the hand-off commits and the bus messages are
acknowledged.

Usage: ``python _jetstream_archive_child.py STORE STREAM_PREFIX SETTINGS_JSON
DUPLICATE_WINDOW``; prints ``STORED <n>`` (the events of the dying batch) before it dies.
``STORE`` is ``sqlite:<file>`` or ``postgres:<schema>`` (on ``CLIENTEVENTS_TEST_PG_DSN``).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import orjson

from clientevents.archive.archiver import Archiver
from clientevents.config import validate_settings
from clientevents.log.jetstream import JetStreamEventLog, JetStreamOptions
from clientevents.store.engine import Database


def main() -> None:
    store, prefix, settings_json, window = sys.argv[1:5]
    settings = validate_settings(orjson.loads(settings_json), environ={})
    kind, _, where = store.partition(":")
    db: Any
    if kind == "postgres":
        from clientevents.store.postgres import PostgresDatabase

        db = PostgresDatabase(os.environ["CLIENTEVENTS_TEST_PG_DSN"], schema=where, pool_max=2)
    else:
        db = Database(where)
    log = JetStreamEventLog(db, JetStreamOptions(stream_prefix=prefix, ack_wait=1.0,
                                                 duplicate_window=float(window)))
    archiver = Archiver(db, settings, log=log)
    streams = archiver.streams
    assert streams is not None
    real = streams.store

    def dying(archive: str, retention_days: int, events: Any) -> None:
        real(archive, retention_days, events)  # in the archive's stream, acknowledged
        print(f"STORED {len(events)}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # before the hand-off commits

    streams.store = dying  # type: ignore[method-assign]
    while True:
        archiver.archive_pass()


if __name__ == "__main__":
    main()
