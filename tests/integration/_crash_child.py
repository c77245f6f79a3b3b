"""The process the crash test kills: the workers plus publishers under load.

Usage: ``python _crash_child.py CONFIG DATA_DIR THREADS``

Runs the runtime's workers (router, dispatchers; a 10 s delivery lease) on a background event
loop and ``THREADS`` publisher threads that call ``Publisher.put_events`` with 10 entries at a
time, forever. Right after each call returns, it writes one line per acknowledged entry to
standard output::

    ACK <event id> <n>

where ``n`` numbers the entry (its content is a function of ``n``, see :func:`detail_of`). Each
call's lines go out in one ``write`` (atomic on a pipe), so a kill never cuts a line.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import threading
from typing import Any

from clientevents.config import load_config
from clientevents.runtime import Runtime
from clientevents.targets.dispatcher import DispatchOptions

SOURCE = "crash.test"


def detail_type_of(n: int) -> str:
    """Every fifth event is "special"."""
    return "special" if n % 5 == 0 else "normal"


def detail_of(n: int) -> dict[str, Any]:
    """The detail of event ``n``: its number, parity and tier."""
    return {"n": n, "kind": "even" if n % 2 == 0 else "odd", "tier": n % 3, "pad": "x" * 200}


def _workers(runtime: Runtime) -> None:
    async def main() -> None:
        await runtime.run_workers(asyncio.Event())  # runs until the process is killed

    asyncio.run(main())


def _publish(runtime: Runtime, counter: itertools.count[int], out: threading.Lock) -> None:
    while True:
        numbers = [next(counter) for _ in range(10)]
        entries = [
            {
                "Source": SOURCE,
                "DetailType": detail_type_of(n),
                "Detail": json.dumps(detail_of(n)),
            }
            for n in numbers
        ]
        answer = runtime.publisher.put_events(entries)
        lines = [
            f"ACK {result['EventId']} {n}\n"
            for n, result in zip(numbers, answer["Entries"], strict=True)
            if "EventId" in result
        ]
        with out:
            os.write(1, "".join(lines).encode())


def main() -> None:
    config, data_dir, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # Deliveries a dispatcher claimed when the process dies become due again when their lease
    # ends; a 10 s lease (instead of 120 s) keeps the restart quick.
    options = DispatchOptions(poll_interval_secs=0.01, lease_secs=10.0, send_timeout_secs=5.0)
    runtime = Runtime(load_config(config), data_dir, dispatch_options=options)
    threading.Thread(target=_workers, args=(runtime,), daemon=True).start()
    counter = itertools.count()
    out = threading.Lock()
    publishers = [
        threading.Thread(target=_publish, args=(runtime, counter, out), daemon=True)
        for _ in range(threads)
    ]
    for thread in publishers:
        thread.start()
    for thread in publishers:
        thread.join()


if __name__ == "__main__":
    main()
