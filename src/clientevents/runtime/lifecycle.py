"""Running the workers as a process: until SIGTERM or SIGINT, then a clean stop.

On the first SIGTERM/SIGINT the stop event is set: the router finishes the batch it is
committing, each dispatcher finishes its batch in flight (bounded by its send timeout), and the
database is closed after its pending writes. A second signal while stopping is ignored (the
stop is already under way; SIGKILL remains for the impatient, and loses nothing either).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from clientevents.runtime.runtime import Runtime

__all__ = ["STOP_SIGNALS", "run_until_signalled"]

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def _main(runtime: Runtime, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, _on_signal, sig, stop)
    try:
        await runtime.run_workers(stop)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    if not stop.is_set():
        logger.info("Stopping the workers. signal=%s", sig.name)
        stop.set()


def run_until_signalled(runtime: Runtime) -> None:
    """Run ``runtime``'s workers until SIGTERM or SIGINT; close the runtime afterwards.

    Must be called from the main thread (signal handlers are installed there).
    """
    stop = asyncio.Event()
    try:
        asyncio.run(_main(runtime, stop))
    finally:
        runtime.close()
    logger.info("Workers stopped.")
