"""The SQLite state store under its former name (see :mod:`clientevents.store.sqlite`)."""

from clientevents.store.sqlite import (
    BUSY_TIMEOUT_SECS,
    MAX_GROUP,
    Database,
    connect,
    register_column,
    register_schema,
)

__all__ = [
    "BUSY_TIMEOUT_SECS", "MAX_GROUP", "Database", "connect", "register_column", "register_schema",
]
