"""Local objects: written, fsync-ed, renamed into place; private; nothing partial visible."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import pytest

from clientevents.objectstore import LocalObjectStore, ObjectStoreError
from clientevents.objectstore.base import check_key
from clientevents.objectstore.local import STAGING_DIR


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_put_writes_a_private_object_in_private_folders(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "lake")
    asyncio.run(store.put("a/b/obj-1", b"hello"))
    assert (tmp_path / "lake" / "a" / "b" / "obj-1").read_bytes() == b"hello"
    assert mode(tmp_path / "lake" / "a" / "b" / "obj-1") == 0o600
    for folder in ("lake", "lake/a", "lake/a/b", f"lake/{STAGING_DIR}"):
        assert mode(tmp_path / folder) == 0o700
    assert list((tmp_path / "lake" / STAGING_DIR).iterdir()) == []


def test_put_syncs_the_file_and_the_folders(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    store = LocalObjectStore(tmp_path / "lake")
    store.put_sync("new/obj", b"x")
    root = str(tmp_path / "lake")
    # The staged file, then the object's folder, then the new folder's parent.
    assert synced[0].startswith(f"{root}/{STAGING_DIR}/")
    assert synced[1:] == [f"{root}/new", root]


def test_a_failed_write_leaves_nothing_visible(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "lake")
    store.put_sync("a/x", b"first")
    (tmp_path / "lake" / "a" / "blocked").mkdir()  # a folder where the object would go
    with pytest.raises(ObjectStoreError) as caught:
        asyncio.run(store.put("a/blocked", b"data"))
    assert caught.value.code == "IOError"
    assert "a/blocked" in str(caught.value)
    assert sorted(p.name for p in (tmp_path / "lake" / "a").iterdir()) == ["blocked", "x"]
    assert list((tmp_path / "lake" / STAGING_DIR).iterdir()) == []


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a", "a\\b", "a\x00b", "dir/"])
def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    store = LocalObjectStore(tmp_path / "lake")
    with pytest.raises(ObjectStoreError) as caught:
        asyncio.run(store.put(key, b"x"))
    assert caught.value.code == "InvalidKey"
    if not key.endswith("/"):  # a trailing "/" names a folder: a prefix, not an object
        with pytest.raises(ValueError):
            check_key(key)
    assert not (tmp_path / "b").exists()


def test_stale_staging_files_are_removed_when_the_store_opens(tmp_path: Path) -> None:
    staging = tmp_path / "lake" / STAGING_DIR
    staging.mkdir(parents=True)
    old, fresh = staging / "old.tmp", staging / "fresh.tmp"
    old.write_bytes(b"torn")
    fresh.write_bytes(b"in flight")
    past = time.time() - 7200
    os.utime(old, (past, past))
    LocalObjectStore(tmp_path / "lake").put_sync("k", b"v")
    assert sorted(p.name for p in staging.iterdir()) == ["fresh.tmp"]
