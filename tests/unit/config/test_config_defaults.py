"""The embedded default reproduces the blueprint, and examples/blueprint.yaml is the same."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from clientevents.config import (
    DeliveryStreamTargetConfig,
    LogTargetConfig,
    default_settings,
    load_config,
    validate_settings,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_default_settings_is_the_blueprint() -> None:
    settings = default_settings()
    [stage] = settings.stages
    assert (stage.name, stage.bus, stage.environment) == ("prod", "client_event_bus", "prod")
    assert settings.bus_names() == ["client_event_bus"]
    lake, tickets = settings.rules
    assert lake.name == "client_events_to_lake"
    assert lake.event_pattern == {"source": ["clientevents"]}
    [lake_target] = lake.targets
    assert isinstance(lake_target, DeliveryStreamTargetConfig)
    assert lake_target.delivery_stream == "client_events_lake"
    assert lake_target.input_transformer is not None
    assert lake_target.input_transformer.input_template == "<aws.events.event.json>\n"
    assert lake_target.input_transformer.input_paths_map == {}
    assert tickets.name == "loyalty_purchase_to_tickets"
    assert tickets.event_pattern == {"detail": {"eventType": ["loyaltypurchase"]}}
    [ticket_target] = tickets.targets
    assert isinstance(ticket_target, LogTargetConfig)
    assert ticket_target.path == "tickets/requests.jsonl"
    assert ticket_target.input_path == "$.detail.ticket"
    [stream] = settings.delivery_streams
    assert stream.name == "client_events_lake"
    assert stream.destination.type == "local"
    assert stream.destination.local is not None and stream.destination.local.path == "lake"
    assert [p.type for p in stream.processors] == ["function", "metadata_extraction"]
    assert stream.processors[0].function == (  # type: ignore[union-attr]
        "clientevents.delivery_stream.examples:blueprint_transform"
    )
    assert stream.prefix == (
        "!{partitionKeyFromQuery:eventType}/!{partitionKeyFromQuery:schemaVersion}/"
    )
    assert stream.buffering.interval_secs <= 10
    [archive] = settings.archives
    assert (archive.name, archive.bus, archive.retention_days) == (
        "client_event_archive",
        "client_event_bus",
        30,
    )
    pool = settings.identity.user_pool
    assert pool.enabled
    assert (pool.id, pool.client_id) == ("local_clientevents", "clientevents-local-app")


def test_each_call_returns_an_independent_instance() -> None:
    first = default_settings()
    first.rules[0].event_pattern["source"].append("mutated")
    assert default_settings().rules[0].event_pattern == {"source": ["clientevents"]}


def test_blueprint_example_equals_the_default() -> None:
    assert load_config(EXAMPLES / "blueprint.yaml", environ={}) == default_settings()


def test_every_example_is_valid() -> None:
    examples = sorted(EXAMPLES.glob("*.yaml"))
    assert examples
    environ = {
        "CLICKS_KEY": "clicks-key-for-tests",
        "CLIENTEVENTS_ADMIN_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "CLIENTEVENTS_ADMIN_SECRET_ACCESS_KEY": "secret-for-tests",
        "SMTP_PASSWORD": "smtp-secret",
    }
    for path in examples:
        assert load_config(path, environ=environ).buses, path


def test_the_yaml_examples_in_the_documentation_are_valid() -> None:
    doc = (EXAMPLES.parent / "docs" / "configuration.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```yaml\n(.*?)^```", doc, flags=re.DOTALL | re.MULTILINE)
    assert len(blocks) == 2
    environ = {
        "CLICKS_KEY": "clicks-key-for-tests",
        "CLIENTEVENTS_ADMIN_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "CLIENTEVENTS_ADMIN_SECRET_ACCESS_KEY": "secret-for-tests",
        "SMTP_PASSWORD": "smtp-secret",
    }
    blueprint, full = (validate_settings(yaml.safe_load(b), environ=environ) for b in blocks)
    assert blueprint == default_settings()
    assert len(full.rules) == 3 and full.stages[1].environment == "test"
