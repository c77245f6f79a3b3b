"""Objects in this process's memory: for tests, and the proof that the object-storage seam holds.

A put stores a copy of the body under the key at once (the dictionary assignment is the atomic
step), so a reader sees the whole object or none; nothing survives the process.
"""

from __future__ import annotations

import threading

from clientevents.objectstore.base import ObjectStore, refuse_unsafe_key

__all__ = ["MemoryObjectStore"]


class MemoryObjectStore(ObjectStore):
    """A dictionary of objects; :attr:`objects` maps each key to its body."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    async def put(self, key: str, body: bytes) -> None:
        refuse_unsafe_key(key)
        data = bytes(body)
        with self._lock:
            self.objects[key] = data

    def describe(self, key: str) -> str:
        return f"memory://{self.name}/{key}"
