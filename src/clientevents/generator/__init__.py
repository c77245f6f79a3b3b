"""Synthetic client events: the blueprint's generator, for demos and load.

::

    from clientevents.generator import Generator, GeneratorOptions, usernames

    options = GeneratorOptions(url="http://127.0.0.1:8080/prod/event",
                               endpoint_url="http://127.0.0.1:8080",
                               usernames=usernames("gen", 20), password="Passw0rd!",
                               rate=500, duration_secs=10)
    summary = asyncio.run(Generator(options).run())

``clientevents generate`` is the command-line face (docs/generator.md).
"""

from __future__ import annotations

from clientevents.generator.entries import ENTRIES, EVENT_TYPES, MALFORMED_SHOPPING, EntryPicker
from clientevents.generator.runner import Generator, GeneratorOptions, usernames
from clientevents.generator.stats import LatencyHistogram, Snapshot, Stats

__all__ = [
    "ENTRIES",
    "EVENT_TYPES",
    "MALFORMED_SHOPPING",
    "EntryPicker",
    "Generator",
    "GeneratorOptions",
    "LatencyHistogram",
    "Snapshot",
    "Stats",
    "usernames",
]
