"""The embedded default: the blueprint's pipeline, used when no configuration file is given.

``examples/blueprint.yaml`` is the same configuration as a file (a test keeps them equal).

- stage ``prod``: ``POST /prod/event`` puts events on ``client_event_bus`` (detail-type ``prod``);
- rule ``client_events_to_lake``: every event with source ``clientevents``, rendered through
  ``<aws.events.event.json>\\n``, to the delivery stream ``client_events_lake``: the blueprint's
  transform function moves ``resources[0]`` (the clientId) into ``detail.accountNumber``, jq
  extracts ``eventType`` and ``schemaVersion``, and objects land in ``<data_dir>/lake/`` under
  ``<eventType>/<schemaVersion>/`` within about five seconds (and at shutdown); failed records
  under ``lake/_errors/<error type>/<yyyy/MM/dd>/``;
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
LAKE = "client_events_lake"

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
                    "type": "delivery_stream",
                    "delivery_stream": LAKE,
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
    "delivery_streams": [
        {
            "name": LAKE,
            "destination": {"type": "local", "local": {"path": "lake"}},
            "processors": [
                {
                    "type": "function",
                    "function": "clientevents.delivery_stream.examples:blueprint_transform",
                },
                {
                    "type": "metadata_extraction",
                    "query": "{eventType: .detail.eventType, schemaVersion: .detail.schemaVersion}",
                },
            ],
            "prefix": "!{partitionKeyFromQuery:eventType}/!{partitionKeyFromQuery:schemaVersion}/",
            "error_output_prefix": "_errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/",
            "buffering": {"size_mib": 5, "interval_secs": 5},
        }
    ],
    "archives": [{"name": "client_event_archive", "bus": BUS, "retention_days": 30}],
    "identity": {"user_pool": {"enabled": True}},
}
"""The blueprint as configuration data (the same keys as a YAML file)."""


def default_settings() -> Settings:
    """The blueprint's pipeline on the embedded default (a new, independent instance)."""
    return validate_settings(BLUEPRINT, file="<embedded default>", environ={})
