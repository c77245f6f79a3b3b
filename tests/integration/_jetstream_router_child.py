"""A router that dies mid-batch: fetches one batch from the JetStream log as group ``router``
and hangs without committing, until the test SIGKILLs it.

Usage: ``python _jetstream_router_child.py DATA_DIR STREAM_PREFIX BUS``; prints ``FETCHED <n>``
once it holds ``n`` events. Its state store is the one of ``DATA_DIR`` (its SQLite file, or the
PostgreSQL schema CLIENTEVENTS_STORAGE names).
"""

from __future__ import annotations

import sys
import time

from clientevents.config import validate_settings
from clientevents.log.jetstream import JetStreamEventLog, JetStreamOptions
from clientevents.store.factory import open_store


def main() -> None:
    data_dir, prefix, bus = sys.argv[1:4]
    db = open_store(validate_settings({"data_dir": data_dir}, file="<router>"), data_dir)
    log = JetStreamEventLog(db, JetStreamOptions(stream_prefix=prefix, ack_wait=1.0))
    consumer = log.consumer(bus, "router")
    deadline = time.monotonic() + 30.0
    while True:
        batch = consumer.fetch(50, wait_secs=0.5)
        if batch.records or time.monotonic() > deadline:
            break
    print(f"FETCHED {len(batch)}", flush=True)
    while True:  # holds the batch until killed
        time.sleep(3600)


if __name__ == "__main__":
    main()
