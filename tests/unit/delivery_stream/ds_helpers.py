"""Helpers for the delivery stream tests: configurations, a fake clock, reading objects."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clientevents.config.delivery_streams import DeliveryStreamConfig
from clientevents.delivery_stream import Record
from clientevents.delivery_stream.encode import decompress


class Clock:
    """A settable clock."""

    def __init__(self, now: float = 1_796_360_400.0) -> None:  # 2026-12-04T05:00:00Z
        self.now = now

    def __call__(self) -> float:
        return self.now


def config(**overrides: Any) -> DeliveryStreamConfig:
    """A local stream named ``s`` writing under ``lake`` (relative), with overrides."""
    data: dict[str, Any] = {
        "name": "s",
        "destination": {"type": "local", "local": {"path": "lake"}},
        "buffering": {"interval_secs": 60},
    }
    data.update(overrides)
    return DeliveryStreamConfig.model_validate(data)


def records(docs: Sequence[Any], arrival: float = 1_796_360_400.0) -> list[Record]:
    """One record per document (JSON with a newline; bytes kept as they are)."""
    out = []
    for i, doc in enumerate(docs):
        data = doc if isinstance(doc, bytes) else (json.dumps(doc) + "\n").encode()
        out.append(Record(data, arrival, token=i))
    return out


def objects(root: Path) -> dict[str, bytes]:
    """Every object under ``root`` (not the staging folder), by key."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).as_posix().startswith(".staging")
    }


def lines(body: bytes, compression: str = "none") -> list[Any]:
    """The JSON lines of an object body."""
    return [json.loads(x) for x in decompress(compression, body).splitlines() if x.strip()]


def folders(root: Path) -> dict[str, list[str]]:
    """Object keys grouped by their folder."""
    out: dict[str, list[str]] = {}
    for key in objects(root):
        folder, _, name = key.rpartition("/")
        out.setdefault(folder, []).append(name)
    return out
