"""The access log: one line per request, API Gateway CLF style, written without a flush each.

The line (see ``docs/gateway.md``)::

    127.0.0.1 - 0f6c3c0e-... [27/Nov/2026:05:00:00 +0000] "POST /prod/event HTTP/1.1" 200 312 \
6a7e8feb-... 2.41ms

Lines go to the ``clientevents.access`` logger. :class:`AccessLogHandler` writes them to a stream
and flushes at most every ``flush_interval_secs`` (and when closed): a flush is a system call,
and one per request costs more than the rest of the line's work together.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any, TextIO

from starlette.types import Scope

ACCESS_LOGGER = "clientevents.access"
_ACCESS = logging.getLogger(ACCESS_LOGGER)


def access_line(
    scope: Scope,
    client_id: str | None,
    status: int,
    size: int,
    request_id: str,
    elapsed: float,
) -> str:
    """One access-log line (CLF-like: see the module docstring)."""
    client = scope.get("client")
    ip = client[0] if client else "-"
    stamp = _stamp(int(time.time()))
    path = _printable(scope.get("path", ""))
    method = _printable(scope.get("method", "-"))
    version = scope.get("http_version", "1.1")
    return (
        f'{ip} - {client_id or "-"} [{stamp}] "{method} {path} HTTP/{version}" '
        f"{status} {size} {request_id} {elapsed * 1000:.2f}ms"
    )


@functools.lru_cache(maxsize=4)
def _stamp(second: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))


def _printable(text: str) -> str:
    # Client-chosen text must not forge log lines or break the quoted field.
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return text.encode("unicode_escape").decode("ascii").replace('"', '\\"')


class AccessLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that flushes on a timer instead of after every line.

    Example::

        handler = AccessLogHandler(sys.stdout)
        logging.getLogger("clientevents.access").addHandler(handler)
        ...
        handler.close()     # flushes what is left
    """

    terminator = "\n"

    def __init__(self, stream: TextIO, *, flush_interval_secs: float = 0.5) -> None:
        super().__init__(stream)
        self.setFormatter(logging.Formatter("%(message)s"))
        self._dirty = False
        self._stop = threading.Event()
        self._interval = flush_interval_secs
        self._flusher = threading.Thread(
            target=self._flush_periodically, name="clientevents-access-log", daemon=True
        )
        self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            self._dirty = True
        except Exception:
            self.handleError(record)

    def write_line(self, line: str) -> None:
        """Write one line as :meth:`emit` would, without building a log record."""
        try:
            self.stream.write(line + self.terminator)
            self._dirty = True
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": line}))

    def _flush_periodically(self) -> None:
        while not self._stop.wait(self._interval):
            if self._dirty:
                self._dirty = False
                self.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()
        super().close()


def log_access(line: str) -> None:
    """Send one access line to the ``clientevents.access`` logger.

    When that logger's only handler is an :class:`AccessLogHandler` (as ``clientevents serve``
    sets it up) the line is written to it directly: a log record costs more than the line.
    """
    logger = _ACCESS
    handlers = logger.handlers
    if len(handlers) == 1 and not logger.propagate and type(handlers[0]) is AccessLogHandler:
        if logger.isEnabledFor(logging.INFO):
            handlers[0].write_line(line)
        return
    logger.info(line)


def configure_access_log(stream: TextIO, **kwargs: Any) -> AccessLogHandler:
    """Send access lines to ``stream`` (alone: they do not reach the root logger)."""
    handler = AccessLogHandler(stream, **kwargs)
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler
