"""The embedded default: the blueprint's pipeline, used when no configuration file is given.

``examples/blueprint.yaml`` is the same configuration as a file (a test keeps them equal).

- stage ``prod``: ``POST /prod/event`` puts events on ``client_event_bus`` (detail-type ``prod``);
- rule ``client_events_to_lake``: every event with source ``clientevents``, rendered through
  ``<aws.events.event.json>\\n``, to the log file ``lake/events.jsonl`` (the blueprint's delivery
  stream takes this target's place once delivery streams exist);
- rule ``loyalty_purchase_to_tickets``: events whose ``detail.eventType`` is ``loyaltypurchase``,
  input path ``$.detail.ticket``, to the log file ``tickets/requests.jsonl`` (the blueprint's
  ticketing API destination takes its place once API destinations exist);
- archive ``client_event_archive`` of the bus, kept 30 days; the built-in user pool.
"""

from __future__ import annotations

from typing import Any

from clientevents.config.loader import validate_settings
from clientevents.config.model import Settings

__all__ = ["BLUEPRINT", "default_settings"]

BUS = "client_event_bus"

BLUEPRINT: dict[str, Any] = {
    "account": "000000000000",
    "region": "local",
    "data_dir": "data",
    "stages": [{"name": "prod", "bus": BUS, "environment": "prod"}],
    "buses": [{"name": BUS}],
    "rules": [
        {
            "name": "client_events_to_lake",
            "bus": BUS,
            "description": "Every client event to the data lake.",
            "event_pattern": {"source": ["clientevents"]},
            "targets": [
                {
                    "id": "lake",
                    "type": "log",
                    "path": "lake/events.jsonl",
                    "input_transformer": {
                        "input_paths_map": {},
                        "input_template": "<aws.events.event.json>\n",
                    },
                }
            ],
        },
        {
            "name": "loyalty_purchase_to_tickets",
            "bus": BUS,
            "description": "Loyalty purchases open a support ticket.",
            "event_pattern": {"detail": {"eventType": ["loyaltypurchase"]}},
            "targets": [
                {
                    "id": "tickets",
                    "type": "log",
                    "path": "tickets/requests.jsonl",
                    "input_path": "$.detail.ticket",
                }
            ],
        },
    ],
    "archives": [{"name": "client_event_archive", "bus": BUS, "retention_days": 30}],
    "identity": {"user_pool": {"enabled": True}},
}
"""The blueprint as configuration data (the same keys as a YAML file)."""


def default_settings() -> Settings:
    """The blueprint's pipeline on the embedded default (a new, independent instance)."""
    return validate_settings(BLUEPRINT, file="<embedded default>", environ={})
