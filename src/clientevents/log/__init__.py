"""The event log of every bus: append, read as a consumer group, trim.

See :mod:`clientevents.log.eventlog` for the tables and :mod:`clientevents.log.retention` for
when events are deleted.
"""

from __future__ import annotations

from clientevents.log.eventlog import SCHEMA, EventLog, LogRecord
from clientevents.log.retention import DEFAULT_RETENTION_SECS, LogRetention

__all__ = ["DEFAULT_RETENTION_SECS", "SCHEMA", "EventLog", "LogRecord", "LogRetention"]
