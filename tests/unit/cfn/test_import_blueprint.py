"""A template of the blueprint's shape imports to a configuration that runs the default's
pipeline (``clientevents import-cloudformation``)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clientevents.cfn import import_template, load_template
from clientevents.cli import main
from clientevents.config import Settings, default_settings, load_config
from clientevents.generator import ENTRIES
from clientevents.runtime import Runtime
from clientevents.targets.dispatcher import DispatchOptions

TEMPLATE = Path(__file__).with_name("blueprint_shape.yaml")
CLIENT = "0f6c3c0e-1b7a-4a8e-9d61-2f5c7a8b9e10"


def test_the_cli_writes_a_configuration_validate_accepts(tmp_path: Path) -> None:
    out = tmp_path / "clientevents.yaml"
    result = CliRunner().invoke(main, ["import-cloudformation", str(TEMPLATE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "not a clean mapping" in result.stderr
    check = CliRunner().invoke(main, ["validate", str(out)])
    assert check.exit_code == 0, check.output
    # The file says at the top what was not carried over, resource by resource.
    head = out.read_text().split("\naccount:")[0]
    assert "- Lake (AWS::KinesisFirehose::DeliveryStream), not yet:" in head
    assert "- TicketsConnection (AWS::Events::Connection), not yet:" in head
    assert "- Tickets (AWS::Events::ApiDestination), not yet:" in head
    assert "- PutEventsRole (AWS::IAM::Role), not applicable:" in head


def test_json_output_lists_every_resource_with_its_outcome() -> None:
    result = CliRunner().invoke(main, ["import-cloudformation", str(TEMPLATE), "--json"])
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
    assert "not yet" in outcomes["Lake"] and "not yet" in outcomes["Tickets"]
    assert outcomes["AssignClientId"] == {"not applicable"}
    assert answer["config"]["stages"] == [
        {"name": "prod", "bus": "client_event_bus", "environment": "prod"}]


def test_the_configuration_has_the_default_pipelines_shape() -> None:
    result = import_template(load_template(TEMPLATE))
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
    assert lake.targets[0].path == default_lake.targets[0].path  # type: ignore[union-attr]
    assert lake.targets[0].retry_policy.maximum_retry_attempts == 20
    assert tickets.targets[0].input_path == default_tickets.targets[0].input_path
    assert tickets.targets[0].path == default_tickets.targets[0].path  # type: ignore[union-attr]


def _run_pipeline(settings: Settings, data: Path) -> tuple[str, str]:
    """Publish the sample's five entries (fixed ids and times) and return the lake and ticket
    files once the workers delivered them."""
    entries: list[dict[str, Any]] = [
        {"Source": "clientevents", "DetailType": "prod", "EventBusName": "client_event_bus",
         "Detail": text, "Resources": [CLIENT], "Time": "2026-11-27T05:00:00Z",
         "Id": f"6a7e8feb-b491-4cf7-a9f1-bf370346771{i}"}
        for i, text in enumerate(ENTRIES.values())
    ]
    runtime = Runtime(settings, data, dispatch_options=DispatchOptions(poll_interval_secs=0.005))
    lake, tickets = data / "lake" / "events.jsonl", data / "tickets" / "requests.jsonl"

    async def run() -> None:
        stop = asyncio.Event()
        workers = asyncio.create_task(runtime.run_workers(stop))
        answer = await runtime.publisher.put_events_async(entries)
        assert answer["FailedEntryCount"] == 0
        deadline = time.monotonic() + 60
        while not (lake.exists() and len(lake.read_text().splitlines()) == 5
                   and tickets.exists() and tickets.read_text()):
            assert time.monotonic() < deadline, "the workers did not deliver"
            await asyncio.sleep(0.02)
        stop.set()
        await workers

    try:
        asyncio.run(run())
    finally:
        runtime.close()
    return lake.read_text(), tickets.read_text()


@pytest.mark.timeout(120)
def test_the_imported_configuration_delivers_what_the_default_delivers(tmp_path: Path) -> None:
    out = tmp_path / "imported.yaml"
    assert CliRunner().invoke(
        main, ["import-cloudformation", str(TEMPLATE), "--out", str(out)]).exit_code == 0
    expected = _run_pipeline(default_settings(), tmp_path / "default")
    got = _run_pipeline(load_config(out), tmp_path / "imported")
    assert got == expected
    lake, tickets = got
    assert {json.loads(line)["detail"]["eventType"] for line in lake.splitlines()} == set(ENTRIES)
    assert json.loads(tickets) == {"ticket": {
        "subject": "Loyalty customer purchase",
        "comment": {"body": "This customer has made a loyalty purchase"}}}
