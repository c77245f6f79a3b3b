"""The ``log`` target: append each delivery as a line to a file, or to standard output.

Each delivery's payload (the rendered target input) is written as it is, followed by ``"\\n"``
unless it already ends with one; with the default input (the whole event as compact JSON) the
file is JSON Lines. A batch is written, flushed and ``fsync``-ed before the target reports
``Ok``, so a delivery leaves the queue only once its line is on disk.

``path`` is relative to the data directory unless absolute; ``"-"`` writes to standard output
(flushed; ``fsync`` where the stream supports it). Parent directories are created (``0700``),
and the file ``0600``. The file is opened once, in append mode, and reopened after a failure.
Several targets may share a file: their batches never interleave within a line.

Errors writing (a full disk, a permission problem) are transient: the batch is retried within
the target's retry policy and dead-lettered only when that runs out. A batch is written whole
or not at all: when a write fails part way, the file is cut back to its length before the
batch (:class:`~.appendfile.AppendFile`), so the retried batch never follows half a line; a
line torn by a killed process is cut off when the file is next opened.

Configuration::

    - id: lake
      type: log
      path: lake/events.jsonl
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from clientevents.targets.appendfile import AppendFile
from clientevents.targets.base import Ok, Outcome, Retry, Target, TargetContext
from clientevents.targets.queue import ClaimedDelivery

__all__ = ["STDOUT", "LogTarget"]

STDOUT = "-"
"""The ``path`` that means standard output."""

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = threading.Lock()
        return lock


def render_lines(payloads: Sequence[str]) -> bytes:
    """The bytes a batch appends: each payload, newline-terminated."""
    parts = [p if p.endswith("\n") else p + "\n" for p in payloads]
    return "".join(parts).encode("utf-8")


class LogTarget(Target):
    """Appends deliveries to a file (or standard output) as lines.

    Args:
        path: the file, or ``None`` for standard output.
    """

    kind: ClassVar[str] = "log"

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file = AppendFile(path) if path is not None else None
        self._lock = _lock_for(str(path) if path is not None else STDOUT)

    @classmethod
    def from_config(cls, cfg: Any, ctx: TargetContext) -> LogTarget:
        """Build from a ``LogTargetConfig``; relative paths resolve against the data dir."""
        raw = str(cfg.path)
        if raw == STDOUT:
            return cls(None)
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = Path(ctx.data_dir) / path
        return cls(path)

    async def send_batch(self, deliveries: Sequence[ClaimedDelivery]) -> list[Outcome]:
        data = render_lines([d.payload for d in deliveries])
        try:
            await asyncio.to_thread(self._write, data)
        except OSError as exc:
            where = "standard output" if self.path is None else str(self.path)
            retry = Retry("IOError", f"Writing to {where} failed: {exc}")
            return [retry for _ in deliveries]
        return [Ok() for _ in deliveries]

    def _write(self, data: bytes) -> None:
        with self._lock:
            if self._file is None:
                _write_stdout(data)
                return
            try:
                self._file.append(data)
            except OSError:
                self._file.close()
                raise

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()

    async def close(self) -> None:
        await asyncio.to_thread(self._close_with_lock)

    def _close_with_lock(self) -> None:
        with self._lock:
            self._close_file()


def _write_stdout(data: bytes) -> None:
    stream = sys.stdout
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        stream.flush()
        buffer.write(data)
        buffer.flush()
    else:
        stream.write(data.decode("utf-8"))
        stream.flush()
    try:
        os.fsync(stream.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # a pipe, a terminal or a captured stream: flushed is as durable as it gets
