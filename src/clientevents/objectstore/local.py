"""Objects as files under a folder: written, ``fsync``-ed, renamed into place.

Each ``put`` writes the body to a new file in ``<root>/.staging/`` (mode 0600), ``fsync``-s it,
renames it to ``<root>/<key>`` and ``fsync``-s the folder it landed in (and every folder it had
to create, up to the root), so the object is either absent or whole, also after a power cut.
Folders are created with mode 0700. Keys are unique (they end in a UUID), so a rename never
replaces an object.

Staging files a crash left behind are removed when the store is opened, once they are older
than :data:`STALE_STAGING_SECS`.

Why not obstore's ``LocalStore``: it neither ``fsync``-s the file nor the folder (so an
acknowledged object can vanish in a power cut), it creates files 0666 and folders 0777 (less
the umask) with no way to ask for less, and it stages ``<key>#<n>`` files beside the object,
where readers of the lake see them after a crash (``docs/delivery-streams.md``).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

from clientevents.objectstore.base import ObjectStore, ObjectStoreError, refuse_unsafe_key

__all__ = ["STAGING_DIR", "STALE_STAGING_SECS", "LocalObjectStore"]

STAGING_DIR = ".staging"
"""The folder under the root where objects are written before they are renamed into place."""

STALE_STAGING_SECS = 3600.0
"""Staging files older than this are leftovers of a crash and are removed at open."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalObjectStore(ObjectStore):
    """A folder of objects.

    Args:
        root: the folder (created 0700 with its parents if missing).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.staging = self.root / STAGING_DIR
        self._known_dirs: set[Path] = set()
        self._opened = False

    def _open(self) -> None:
        if self._opened:
            return
        self._make_dirs(self.staging)
        cutoff = time.time() - STALE_STAGING_SECS
        for leftover in self.staging.iterdir():
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except OSError:
                pass
        self._opened = True

    def describe(self, key: str) -> str:
        return str(self.root / key)

    async def put(self, key: str, body: bytes) -> None:
        refuse_unsafe_key(key)
        try:
            await asyncio.to_thread(self._put, key, body)
        except OSError as exc:
            raise ObjectStoreError(
                f"Writing {self.describe(key)} failed: {exc}", code="IOError"
            ) from exc

    def put_sync(self, key: str, body: bytes) -> None:
        """:meth:`put` without the event loop (benchmarks, tools); raises ``OSError`` where
        :meth:`put` raises :class:`ObjectStoreError` for a failed write."""
        refuse_unsafe_key(key)
        self._put(key, body)

    def _put(self, key: str, body: bytes) -> None:
        final = self.root / key
        try:
            self._write(final, body)
        except OSError:
            self._known_dirs.discard(final.parent)  # look again next time
            raise

    def _write(self, final: Path, body: bytes) -> None:
        self._open()
        created = self._make_dirs(final.parent)
        tmp = self.staging / f"{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                view = memoryview(body)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, final)
        except BaseException:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise
        _fsync_dir(final.parent)
        for folder in created:  # the new folders' own entries in their parents
            _fsync_dir(folder.parent)

    def _make_dirs(self, folder: Path) -> list[Path]:
        """Create ``folder`` and missing parents (0700); return the folders created."""
        if folder in self._known_dirs:
            return []
        missing: list[Path] = []
        probe = folder
        while not probe.is_dir():
            missing.append(probe)
            if probe.parent == probe:
                break
            probe = probe.parent
        created: list[Path] = []
        for path in reversed(missing):
            try:
                os.mkdir(path, 0o700)
                created.append(path)
            except FileExistsError:
                if not path.is_dir():
                    raise NotADirectoryError(f"{path} exists and is not a folder") from None
        self._known_dirs.add(folder)
        return created
