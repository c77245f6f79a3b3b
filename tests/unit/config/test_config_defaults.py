"""The embedded default reproduces the blueprint, and examples/blueprint.yaml is the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from clientevents.config import (
    DeliveryStreamTargetConfig,
    Settings,
    default_settings,
    load_config,
    validate_settings,
)
from clientevents.config.api_destinations import ApiDestinationTargetConfig

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
    assert isinstance(ticket_target, ApiDestinationTargetConfig)
    assert ticket_target.api_destination == "zendesk_tickets"
    assert ticket_target.input_path == "$.detail.ticket"
    assert ticket_target.http_parameters is not None
    assert ticket_target.http_parameters.header_parameters == {"Content-Type": "application/json"}
    [destination] = settings.api_destinations
    assert destination.connection == "zendesk"
    assert destination.http_method == "POST"
    assert destination.invocation_rate_limit_per_sec == 10
    # Without CLIENTEVENTS_TICKETS_URL: the built-in inbox on the gateway's own listener.
    assert destination.invocation_endpoint == "/inbox/api/v2/tickets.json"
    [connection] = settings.connections
    assert connection.authorization_type == "basic" and connection.basic is not None
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


def _example_with_default_credentials(example: Settings, default: Settings) -> Settings:
    """The example with the default's connection: the one place where the two differ."""
    [connection] = example.connections
    assert connection.basic is not None
    assert (connection.basic.secret, connection.basic.username_key,
            connection.basic.password_key) == ("proto/zendesk", "username", "apiToken")
    return example.model_copy(update={"connections": default.connections})


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {
            "CLIENTEVENTS_TICKETS_URL": "https://example.zendesk.com/api/v2/tickets.json",
            "CLIENTEVENTS_TICKETS_USER": "agent@example.com/token",
            "CLIENTEVENTS_TICKETS_TOKEN": "zendesk-token",
        },
    ],
)
def test_blueprint_example_equals_the_default_but_for_the_credentials(
    environ: dict[str, str],
) -> None:
    example = load_config(EXAMPLES / "blueprint.yaml", environ=environ)
    default = default_settings(environ)
    assert example != default
    assert _example_with_default_credentials(example, default) == default
    assert example.api_destinations[0].invocation_endpoint == environ.get(
        "CLIENTEVENTS_TICKETS_URL", "/inbox/api/v2/tickets.json"
    )


def test_the_default_reads_the_ticketing_variables_and_no_others() -> None:
    settings = default_settings(
        {
            "CLIENTEVENTS_TICKETS_URL": "https://example.zendesk.com/api/v2/tickets.json",
            "CLIENTEVENTS_TICKETS_USER": "agent",
            "CLIENTEVENTS_TICKETS_TOKEN": "zendesk-token",
        }
    )
    basic = settings.connections[0].basic
    assert basic is not None and basic.username is not None and basic.password is not None
    assert basic.username.get_secret_value() == "agent"
    assert basic.password.get_secret_value() == "zendesk-token"
    assert "zendesk-token" not in repr(settings)


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
    assert len(blocks) == 3
    environ = {
        "CLIENTEVENTS_PG_DSN": "postgresql://db.example:5432/events",
        "CLICKS_KEY": "clicks-key-for-tests",
        "CLIENTEVENTS_ADMIN_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "CLIENTEVENTS_ADMIN_SECRET_ACCESS_KEY": "secret-for-tests",
        "SMTP_PASSWORD": "smtp-secret",
    }
    storage, blueprint, full = (
        validate_settings(yaml.safe_load(b), environ=environ) for b in blocks
    )
    assert storage.storage.store == "postgres"
    assert storage.storage.postgres.dsn == "postgresql://db.example:5432/events"
    assert blueprint == default_settings({})
    assert len(full.rules) == 3 and full.stages[1].environment == "test"
