"""State stores: the embedded SQLite engine and the stores built on it."""

from clientevents.store.engine import Database, register_schema

__all__ = ["Database", "register_schema"]
