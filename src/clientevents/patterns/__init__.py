"""The EventBridge event-pattern language: parse, match one pattern, match many rules.

::

    from clientevents.patterns import EventPattern, InvalidEventPattern, Matcher

See docs/specs/patterns.md for the language as implemented, the matcher's design and limits.
"""

from __future__ import annotations

from clientevents.patterns.errors import InvalidEventPattern
from clientevents.patterns.matcher import Matcher
from clientevents.patterns.pattern import EventPattern

__all__ = ["EventPattern", "InvalidEventPattern", "Matcher"]
