"""Appending to a file so that a failed write leaves it exactly as it was.

A write cut short (a full disk, a file-size limit, an I/O error) may leave part of a batch at the
end of the file; if the batch is then retried, the part and the retried batch would join into one
broken line for good. :class:`AppendFile` remembers the file's length before each batch and,
when writing or syncing fails, truncates the file back to it and syncs again, so a retried batch
starts where the failed one did. A process killed in the middle of a write cannot clean up; the
next :class:`AppendFile` to open the file cuts off what follows its last newline (every batch
ends with one), so a torn line is never joined to the next.

Files are created ``0600``: they hold events.

Example::

    out = AppendFile(Path("data/lake/events.jsonl"))
    out.append(b'{"n": 1}\\n')      # on disk when it returns; raises OSError, file unchanged
    out.close()
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["FILE_MODE", "AppendFile"]

logger = logging.getLogger("clientevents.targets")

FILE_MODE = 0o600
"""The mode of the files targets create."""

_TAIL_CHUNK = 64 * 1024


class AppendFile:
    """A file that batches are appended to, whole or not at all.

    Not thread-safe: callers hold their own lock around :meth:`append`, one lock per file
    when several objects append to the same file.

    Args:
        path: the file; its parent folders are created (``0700``) on first use.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        # Set when truncating after a failure failed too: the length to restore first.
        self._restore_to: int | None = None

    def append(self, data: bytes) -> None:
        """Append ``data`` and ``fsync`` it.

        Raises:
            OSError: the write or the sync failed; the file holds what it held before (or, if
                even the clean-up failed, is cleaned up before the next append).
        """
        fd = self._open()
        if self._restore_to is not None:
            self._truncate(fd, self._restore_to)
            self._restore_to = None
        # The length now, not as this object last left it: other writers (under the caller's
        # lock) may share the file.
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except OSError:
            self._undo(fd, start)
            raise

    def close(self) -> None:
        """Close the file (it is opened again by the next :meth:`append`)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    # -- internals ---------------------------------------------------------------------------

    def _open(self) -> int:
        if self._fd is not None:
            return self._fd
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(
            self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE
        )
        try:
            size = os.fstat(fd).st_size
            whole = _end_of_last_line(fd, size)
            if whole < size:
                logger.warning(
                    "Cut off a torn last line (a write was interrupted). file=%s bytes=%d",
                    self.path, size - whole,
                )
                self._truncate(fd, whole)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        return fd

    def _undo(self, fd: int, length: int) -> None:
        try:
            self._truncate(fd, length)
        except OSError as exc:
            self._restore_to = length
            logger.error(
                "Could not remove a failed write from a file; retrying before the next write. "
                "file=%s error=%s", self.path, exc,
            )

    @staticmethod
    def _truncate(fd: int, length: int) -> None:
        os.ftruncate(fd, length)
        os.fsync(fd)


def _end_of_last_line(fd: int, size: int) -> int:
    """The length of the file up to and including its last newline (0 when it has none)."""
    end = size
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        chunk = os.pread(fd, end - start, start)
        if end == size and chunk.endswith(b"\n"):
            return size
        at = chunk.rfind(b"\n")
        if at >= 0:
            return start + at + 1
        end = start
    return 0
