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
  input path ``$.detail.ticket``, header ``Content-Type: application/json``, to the API
  destination ``zendesk_tickets`` (at most 10 calls a second) through the connection
  ``zendesk`` (Basic credentials). Its endpoint is ``CLIENTEVENTS_TICKETS_URL`` with the
  credentials ``CLIENTEVENTS_TICKETS_USER`` and ``CLIENTEVENTS_TICKETS_TOKEN``; unset, it is the
  built-in ticket inbox on the gateway's own listener (``/inbox/api/v2/tickets.json``), which
  needs no account anywhere. The destination may reach loopback addresses (a local demo);
- archive ``client_event_archive`` of the bus, kept 30 days; the built-in user pool.

``examples/blueprint.yaml`` differs in one place only: its connection reads the credentials
from the secret store entry ``proto/zendesk`` (keys ``username`` and ``apiToken``), as the
blueprint's template does, where this default reads the two environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from clientevents.config.loader import STORAGE_ENVIRONMENT, validate_settings
from clientevents.config.model import Settings

__all__ = ["BLUEPRINT", "TICKETS_ENVIRONMENT", "default_settings"]

BUS = "client_event_bus"
LAKE = "client_events_lake"

TICKETS_ENVIRONMENT = (
    "CLIENTEVENTS_TICKETS_URL",
    "CLIENTEVENTS_TICKETS_USER",
    "CLIENTEVENTS_TICKETS_TOKEN",
)
"""The environment variables the embedded default reads (its ticketing API destination)."""

INBOX_PATH = "/inbox/api/v2/tickets.json"
"""The built-in ticket inbox's Zendesk-like endpoint, on the gateway's own listener."""

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
                    "type": "api_destination",
                    "api_destination": "zendesk_tickets",
                    "input_path": "$.detail.ticket",
                    "http_parameters": {
                        "header_parameters": {"Content-Type": "application/json"},
                    },
                }
            ],
        },
    ],
    "connections": [
        {
            "name": "zendesk",
            "description": "Basic credentials of the ticketing API.",
            "authorization_type": "basic",
            "basic": {
                "username": "${env:CLIENTEVENTS_TICKETS_USER:-clientevents}",
                "password": "${env:CLIENTEVENTS_TICKETS_TOKEN:-inbox}",
            },
        }
    ],
    "api_destinations": [
        {
            "name": "zendesk_tickets",
            "description": "The ticketing API's tickets endpoint (Zendesk: POST /api/v2/tickets).",
            "connection": "zendesk",
            "invocation_endpoint": f"${{env:CLIENTEVENTS_TICKETS_URL:-{INBOX_PATH}}}",
            "http_method": "POST",
            "invocation_rate_limit_per_sec": 10,
            "allow_private_networks": ["127.0.0.0/8", "::1/128"],
        }
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


def default_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The blueprint's pipeline on the embedded default (a new, independent instance).

    Args:
        environ: where the ticketing variables (:data:`TICKETS_ENVIRONMENT`) are read;
            ``os.environ`` by default. Only those variables are read, unless
            :data:`STORAGE_ENVIRONMENT` holds a storage section (whose ``${env:...}`` may
            name any).
    """
    source = os.environ if environ is None else environ
    if source.get(STORAGE_ENVIRONMENT):
        # The storage section may name variables of its own (``${env:PGPASSWORD}``).
        variables: Mapping[str, str] = source
    else:
        variables = {name: source[name] for name in TICKETS_ENVIRONMENT if name in source}
    return validate_settings(BLUEPRINT, file="<embedded default>", environ=variables)
