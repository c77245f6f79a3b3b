"""A template of the blueprint's shape imports to a configuration that runs the default's
pipeline (``clientevents import-cloudformation``): the same records in the lake's partitions and
the same ticket, with the same credentials, at the ticketing API."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from recording_server import Call, RecordingServer, recording_server

from clientevents.cfn import import_template, load_template
from clientevents.cli import main
from clientevents.config import Settings, default_settings, load_config
from clientevents.generator import ENTRIES
from clientevents.runtime import Runtime
from clientevents.targets.dispatcher import DispatchOptions

TEMPLATE = Path(__file__).with_name("blueprint_shape.yaml")
CLIENT = "0f6c3c0e-1b7a-4a8e-9d61-2f5c7a8b9e10"
TRANSFORM = "clientevents.delivery_stream.examples:blueprint_transform"
ENDPOINT = "https://example.zendesk.com/api/v2/tickets.json"
USER, TOKEN = "agent@example.com/token", "api-token-0123"


def _import(*extra: str, endpoint: str = ENDPOINT) -> list[str]:
    return ["import-cloudformation", str(TEMPLATE), "--parameter", f"TicketsEndpoint={endpoint}",
            "--function", f"Transformer={TRANSFORM}", *extra]


def test_the_cli_writes_a_configuration_validate_accepts(tmp_path: Path) -> None:
    out = tmp_path / "clientevents.yaml"
    result = CliRunner().invoke(main, _import("--out", str(out)))
    assert result.exit_code == 0, result.output
    assert "not a clean mapping" in result.stderr
    check = CliRunner().invoke(main, ["validate", str(out)])
    assert check.exit_code == 0, check.output
    # The file says at the top what was not carried over, resource by resource.
    head = out.read_text().split("\naccount:")[0]
    assert "- Lake (AWS::KinesisFirehose::DeliveryStream), partly: delivery stream lake: its\n" \
           "# ErrorOutputPrefix 'error/' becomes" in head
    assert "EncryptionConfiguration" in head
    assert "- PutEventsRole (AWS::IAM::Role), not applicable:" in head
    assert "TicketsConnection" not in head  # carried over whole


def test_json_output_lists_every_resource_with_its_outcome() -> None:
    result = CliRunner().invoke(main, [*_import(), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    outcomes: dict[str, set[str]] = {}
    for finding in answer["findings"]:
        outcomes.setdefault(finding["resource"], set()).add(finding["outcome"])
    template = load_template(TEMPLATE)
    assert set(template.resources) <= set(outcomes)  # every resource is accounted for
    assert outcomes["ClientBus"] == {"mapped"}
    assert outcomes["EventsApiDeployment"] == {"mapped"}
    assert outcomes["ClientArchive"] == {"mapped"}
    assert outcomes["TicketsConnection"] == {"mapped"}
    assert outcomes["Tickets"] == {"mapped"}
    assert outcomes["Lake"] == {"mapped", "partly"}
    assert outcomes["AssignClientId"] == {"not applicable"}
    config = answer["config"]
    assert config["stages"] == [{"name": "prod", "bus": "client_event_bus", "environment": "prod"}]
    assert config["connections"] == [{
        "name": "tickets", "description": "Basic credentials of the ticketing API",
        "authorization_type": "basic",
        "basic": {"secret": "proto/tickets", "username_key": "username",
                  "password_key": "apiToken"}}]
    assert config["api_destinations"] == [{
        "name": "tickets", "connection": "tickets", "invocation_endpoint": ENDPOINT,
        "http_method": "POST", "invocation_rate_limit_per_sec": 10}]


def test_without_a_function_for_the_lambda_the_finding_says_how_to_give_one() -> None:
    result = import_template(load_template(TEMPLATE))
    [stream] = result.config["delivery_streams"]
    assert [p["type"] for p in stream["processors"]] == ["record_deaggregation",
                                                         "metadata_extraction"]
    assert any("pass --function Transformer=module:function" in f.message
               for f in result.findings if f.resource == "Lake")
    # An endpoint parameter without a value is read from the environment.
    assert result.config["api_destinations"][0]["invocation_endpoint"] == \
        "${env:TicketsEndpoint}"


def test_the_configuration_has_the_default_pipelines_shape() -> None:
    result = import_template(load_template(TEMPLATE), parameters={"TicketsEndpoint": ENDPOINT},
                             functions={"Transformer": TRANSFORM})
    imported = Settings.model_validate(result.config)
    default = default_settings()
    assert imported.stages == default.stages
    assert imported.bus_names() == default.bus_names()
    assert imported.archives == default.archives
    assert imported.identity.user_pool == default.identity.user_pool
    lake, tickets = imported.rules
    default_lake, default_tickets = default.rules
    assert lake.event_pattern == default_lake.event_pattern
    assert tickets.event_pattern == {"source": ["clientevents"],
                                     "detail": {"eventType": ["loyaltypurchase"]}}
    assert lake.targets[0].input_transformer == default_lake.targets[0].input_transformer
    assert lake.targets[0].retry_policy.maximum_retry_attempts == 20
    assert tickets.targets[0].input_path == default_tickets.targets[0].input_path
    assert tickets.targets[0].http_parameters == \
        default_tickets.targets[0].http_parameters  # type: ignore[union-attr]
    [stream], [default_stream] = imported.delivery_streams, default.delivery_streams
    assert stream.prefix == default_stream.prefix
    assert [p.type for p in stream.processors] == ["record_deaggregation", "function",
                                                   "metadata_extraction"]
    assert stream.processors[1].function == TRANSFORM  # type: ignore[union-attr]
    assert stream.processors[1].timeout_secs == 61  # type: ignore[union-attr]
    assert stream.error_output_prefix == "error/!{firehose:error-output-type}/"
    [destination], [default_destination] = imported.api_destinations, default.api_destinations
    assert destination.invocation_rate_limit_per_sec == \
        default_destination.invocation_rate_limit_per_sec == 10


def _records(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The lake's records by partition folder (error output left out). Records are read as
    concatenated JSON objects: the imported stream de-aggregates, which takes the newline off
    each record as Firehose does; the default writes JSON lines."""
    decoder = json.JSONDecoder()
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        partition = str(path.parent.relative_to(folder))
        if partition.startswith(("_", ".", "error")):
            continue
        text, pos = path.read_text(), 0
        while pos < len(text):
            if text[pos].isspace():
                pos += 1
                continue
            record, pos = decoder.raw_decode(text, pos)
            found.setdefault(partition, []).append(record)
    return found


async def _deliver(settings: Settings, data: Path, lake: Path, server: RecordingServer) -> None:
    """Publish the sample's five entries (fixed ids and times) and wait for the lake's five
    records and the ticket."""
    entries: list[dict[str, Any]] = [
        {"Source": "clientevents", "DetailType": "prod", "EventBusName": "client_event_bus",
         "Detail": text, "Resources": [CLIENT], "Time": "2026-11-27T05:00:00Z",
         "Id": f"6a7e8feb-b491-4cf7-a9f1-bf370346771{i}"}
        for i, text in enumerate(ENTRIES.values())
    ]
    runtime = Runtime(settings, data, dispatch_options=DispatchOptions(poll_interval_secs=0.005))
    try:
        stop = asyncio.Event()
        workers = asyncio.create_task(runtime.run_workers(stop))
        answer = await runtime.publisher.put_events_async(entries)
        assert answer["FailedEntryCount"] == 0
        deadline = time.monotonic() + 60
        while not (lake.exists() and sum(map(len, _records(lake).values())) == 5
                   and server.calls):
            assert time.monotonic() < deadline, "the workers did not deliver"
            await asyncio.sleep(0.05)
        stop.set()
        await workers
    finally:
        runtime.close()


def _ticket(call: Call) -> tuple[str, str, str, Any]:
    return (call.method, call.headers["authorization"], call.headers["content-type"],
            call.json())


@pytest.mark.timeout(120)
def test_the_imported_configuration_delivers_what_the_default_delivers(tmp_path: Path) -> None:
    with recording_server() as default_api, recording_server() as imported_api:
        # The default reads the ticketing API's address and credentials from the environment.
        default = default_settings({
            "CLIENTEVENTS_TICKETS_URL": f"{default_api.url}/api/v2/tickets.json",
            "CLIENTEVENTS_TICKETS_USER": USER, "CLIENTEVENTS_TICKETS_TOKEN": TOKEN})
        # The import takes the address as the template's parameter, and the credentials from
        # the secret store entry the template's {{resolve:secretsmanager:...}} names.
        out = tmp_path / "imported.yaml"
        result = CliRunner().invoke(main, _import(
            "--out", str(out), endpoint=f"{imported_api.url}/api/v2/tickets.json"))
        assert result.exit_code == 0, result.output
        data = tmp_path / "imported"
        stored = CliRunner().invoke(
            main, ["secrets", "set", "proto/tickets", "--data-dir", str(data)],
            input=json.dumps({"username": USER, "apiToken": TOKEN}))
        assert stored.exit_code == 0, stored.output
        imported = load_config(out)
        lake_folder = imported.delivery_streams[0].destination.local.path  # type: ignore[union-attr]

        async def both() -> None:
            await asyncio.gather(
                _deliver(default, tmp_path / "default", tmp_path / "default" / "lake",
                         default_api),
                _deliver(imported, data, data / lake_folder, imported_api))

        asyncio.run(both())
        expected_lake = _records(tmp_path / "default" / "lake")
        got_lake = _records(data / lake_folder)
        [expected_ticket], [got_ticket] = default_api.calls, imported_api.calls
    assert got_lake == expected_lake
    assert set(got_lake) == {"shopping/1", "searching/1", "paging/2", "purchase/2",
                             "loyaltypurchase/2"}
    assert all(r["detail"]["accountNumber"] == CLIENT and r["resources"] == []
               for records in got_lake.values() for r in records)
    assert _ticket(got_ticket) == _ticket(expected_ticket)
    assert got_ticket.json() == {"ticket": {
        "subject": "Loyalty customer purchase",
        "comment": {"body": "This customer has made a loyalty purchase"}}}
