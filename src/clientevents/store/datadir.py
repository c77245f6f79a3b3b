"""The data directory is private: the folder ``0700``, every file in it ``0600``.

It holds the database (with the user pool's RSA signing keys and password hashes), the admin
credentials, the confirmation codes and the events written by local targets; a local user who
can read any of them can forge tokens or read other people's events.

:func:`secure_data_dir` runs when a process opens the data directory (every
:class:`~clientevents.runtime.Runtime` and every command that opens the database): it sets the
process's umask to ``077``, so every file and folder the process creates afterwards (SQLite's
``-wal`` and ``-shm`` files, codes, lake files, objects) is private to its owner, and creates the
folder ``0700``. It changes nothing that exists. :func:`check_data_dir` lists what is wider than
that, and :func:`warn_if_wider` logs it once at start, with the command that fixes it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "PRIVATE_UMASK",
    "check_data_dir",
    "secure_data_dir",
    "warn_if_wider",
]

logger = logging.getLogger("clientevents.store")

PRIVATE_UMASK = 0o077
"""The umask a process that opens the data directory runs with."""

DIR_MODE = 0o700
"""The mode of the data directory and the folders in it."""

FILE_MODE = 0o600
"""The mode of every file in the data directory."""

#: Most entries :func:`check_data_dir` looks at (a large lake need not slow every start).
MAX_CHECKED = 10_000

#: Most offending paths a warning names.
MAX_NAMED = 5


def secure_data_dir(path: str | Path) -> Path:
    """Set the umask to ``077`` and create the data directory ``0700``; return its path.

    The umask is the process's: call this at start, before threads create files.
    """
    folder = Path(path)
    os.umask(PRIVATE_UMASK)
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return folder


def check_data_dir(path: str | Path) -> list[tuple[Path, int]]:
    """The data directory and the entries in it that group or others may use, with their modes.

    Symbolic links are not followed. At most :data:`MAX_CHECKED` entries are looked at.
    """
    folder = Path(path)
    wider: list[tuple[Path, int]] = []
    try:
        mode = stat.S_IMODE(folder.stat().st_mode)
    except OSError:
        return wider
    if mode & 0o077:
        wider.append((folder, mode))
    seen = 0
    for root, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            seen += 1
            if seen > MAX_CHECKED:
                return wider
            entry = Path(root) / name
            try:
                info = entry.lstat()
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                continue
            entry_mode = stat.S_IMODE(info.st_mode)
            if entry_mode & 0o077:
                wider.append((entry, entry_mode))
    return wider


def warn_if_wider(path: str | Path) -> list[tuple[Path, int]]:
    """Log a warning when the data directory or anything in it is open to group or others."""
    wider = check_data_dir(path)
    if wider:
        named = ", ".join(f"{p} ({m:04o})" for p, m in wider[:MAX_NAMED])
        more = f" and {len(wider) - MAX_NAMED} more" if len(wider) > MAX_NAMED else ""
        logger.warning(
            "The data directory holds signing keys and events, but %d of its entries can be "
            "read or written by other users: %s%s. Run: chmod -R go-rwx %s",
            len(wider), named, more, Path(path),
        )
    return wider
