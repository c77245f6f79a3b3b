"""Repeated errors logged once, then as a count: an outage must not flood the logs.

When the disk is full or a database is unreachable, every request and every worker loop fails
the same way, many times a second. :class:`LogThrottle` logs the first occurrence of each kind
of message (its ``key``) in full, counts the repeats, and logs the message again with the count
of what it held back once ``interval_secs`` have passed since it last logged that key; after a
quiet period the next occurrence is logged in full again. :meth:`LogThrottle.flush` logs the
counts still held (for example when the outage ends).

Example::

    throttle = LogThrottle(logger, interval_secs=10)
    throttle.error("append", "Appending to the event log failed. error=%s", exc)
    # first: "Appending to the event log failed. error=..."
    # 10 s later, at the next failure:
    #        "Appending to the event log failed. error=... (and 812 more like it in 10 s)"
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_INTERVAL_SECS", "LogThrottle"]

DEFAULT_INTERVAL_SECS = 10.0
"""How often a repeated message is logged, with the count held back."""


@dataclass(slots=True)
class _Window:
    started: float
    held: int = 0
    level: int = logging.ERROR
    message: str = ""


class LogThrottle:
    """Logs each kind of message at most once per ``interval_secs``, with a count of repeats.

    Thread-safe. Keys should come from a small fixed set (one per call site or failure kind).

    Args:
        logger: where the messages go.
        interval_secs: the shortest time between two lines for the same key.
        clock: a monotonic time source.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval_secs: float = DEFAULT_INTERVAL_SECS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval_secs = interval_secs
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def log(self, key: str, level: int, msg: str, *args: Any, exc_info: Any = None) -> bool:
        """Log ``msg % args`` unless ``key`` was logged less than ``interval_secs`` ago.

        Returns whether a line was written. The traceback (``exc_info``) is only written with
        the first line of a window.
        """
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.started < self.interval_secs:
                window.held += 1
                window.level = level
                window.message = msg % args if args else msg
                return False
            held = 0 if window is None else window.held
            self._windows[key] = _Window(started=now)
        if held:
            self.logger.log(level, msg + " (and %d more like it in %.0f s)", *args, held,
                            now - window.started if window else 0.0)
        else:
            self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def error(self, key: str, msg: str, *args: Any, exc_info: Any = None) -> bool:
        """:meth:`log` at ERROR."""
        return self.log(key, logging.ERROR, msg, *args, exc_info=exc_info)

    def warning(self, key: str, msg: str, *args: Any, exc_info: Any = None) -> bool:
        """:meth:`log` at WARNING."""
        return self.log(key, logging.WARNING, msg, *args, exc_info=exc_info)

    def flush(self) -> int:
        """Log the repeats still held back (one line per key) and forget every key.

        Returns how many repeats were reported.
        """
        with self._lock:
            windows, self._windows = self._windows, {}
        now = self.clock()
        total = 0
        for window in windows.values():
            if window.held == 1:
                self.logger.log(window.level, "%s", window.message)
            elif window.held:
                self.logger.log(window.level, "%s (and %d more like it in %.0f s)",
                                window.message, window.held - 1, now - window.started)
            total += window.held
        return total
