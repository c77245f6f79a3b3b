"""Event ids drawn per request are random version-4 UUIDs, all distinct."""

from __future__ import annotations

import uuid

from clientevents.server.routes.ingest import event_ids


def test_event_ids_are_distinct_version_4_uuids() -> None:
    ids = [i for _ in range(200) for i in event_ids(10)]
    assert len(set(ids)) == len(ids) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_event_ids_count() -> None:
    assert event_ids(0) == []
    assert len(event_ids(1)) == 1
