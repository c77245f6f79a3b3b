"""The object store interface, its error, and the key rule every store applies."""

from __future__ import annotations

import abc
import re

from clientevents.errors import StoreError

__all__ = ["ObjectStore", "ObjectStoreError", "check_key", "refuse_unsafe_key", "unsafe_key_reason"]


class ObjectStoreError(StoreError):
    """An object could not be written; ``code`` is short (``IOError``, ``S3.NoSuchBucket``)."""

    def __init__(self, message: str, *, code: str = "ObjectStoreError") -> None:
        self.code = code
        super().__init__(message)


_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")


def unsafe_key_reason(key: str) -> str | None:
    """Why ``key`` could leave the folder or bucket it is meant for, or ``None`` if it cannot.

    A key is a ``/``-separated path relative to the store's root. Refused: the empty key, a
    leading ``/`` (absolute), a ``.`` or ``..`` segment, an empty segment (``a//b``), a
    backslash, and control characters.
    """
    if not key:
        return "it is empty"
    if key.startswith("/"):
        return "it starts with '/' (an absolute path)"
    bad = _FORBIDDEN.search(key)
    if bad is not None:
        ch = bad.group(0)
        return "it contains a backslash" if ch == "\\" else (
            f"it contains the control character {ch!r}")
    if "." not in key and "//" not in key:
        return None
    segments = key.split("/")
    for segment in segments[:-1] if key.endswith("/") else segments:
        if segment in (".", ".."):
            return f"it contains a {segment!r} segment"
        if segment == "":
            return "it contains an empty segment ('//')"
    return None


def check_key(key: str) -> str:
    """Return ``key`` if it is safe (:func:`unsafe_key_reason`), else raise ``ValueError``."""
    reason = unsafe_key_reason(key)
    if reason is not None:
        raise ValueError(f"Object key {key!r} is refused: {reason}.")
    return key


def refuse_unsafe_key(key: str) -> None:
    """Raise :class:`ObjectStoreError` (code ``InvalidKey``) unless ``key`` names an object:
    safe (:func:`unsafe_key_reason`) and not ending with ``/`` (a folder)."""
    reason = unsafe_key_reason(key)
    if reason is None and key.endswith("/"):
        reason = "it ends with '/'"
    if reason is not None:
        raise ObjectStoreError(f"Object key {key!r} is refused: {reason}.", code="InvalidKey")


class ObjectStore(abc.ABC):
    """The object-storage port: somewhere to put objects by key.

    Implementations: :class:`~clientevents.objectstore.local.LocalObjectStore` (a folder),
    :class:`~clientevents.objectstore.s3.S3ObjectStore` (an S3 bucket) and
    :class:`~clientevents.objectstore.memory.MemoryObjectStore` (this process's memory, for
    tests). ``tests/conformance/test_object_store.py`` holds them to this contract:

    - :meth:`put` refuses an unsafe key (:func:`refuse_unsafe_key`) with
      :class:`ObjectStoreError` before writing anything;
    - a put that returns has stored the whole body durably; one that raises leaves no object
      and no partial one under the key, and a reader never sees part of a body;
    - a put under an existing key replaces the object whole (keys are normally unique);
    - implementations are safe to share between tasks (concurrent puts all land);
    - :meth:`close` releases resources and may be called more than once.
    """

    @abc.abstractmethod
    async def put(self, key: str, body: bytes) -> None:
        """Store ``body`` under ``key`` durably, or raise :class:`ObjectStoreError`.

        A failed put leaves no object (and no partial object) under ``key``; an unsafe key is
        refused (code ``InvalidKey``) before anything is written.
        """

    @abc.abstractmethod
    def describe(self, key: str) -> str:
        """Where ``key`` is, for messages (a path or an ``s3://`` URL)."""

    async def close(self) -> None:  # noqa: B027 - optional hook with a default
        """Release resources."""
