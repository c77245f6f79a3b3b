"""InputPath (one part of the event, as JSON text) and constant Input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import clientevents.transform as transform
from clientevents.transform import InputPath, TransformError, apply_input_path, constant_input

SAMPLES = Path(__file__).parent / "samples"  # copies of the reference wire-format samples
EVENT: dict[str, Any] = {
    "id": "e-1",
    "detail-type": "prod",
    "resources": ["client-1"],
    "detail": {"payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"}, "n": None, "k": 3},
}


def test_the_ticket_rule_sends_exactly_the_zendesk_request_body() -> None:
    event = json.loads((SAMPLES / "event.json").read_text())
    expected = json.loads((SAMPLES / "zendesk-request-body.json").read_text())
    body = apply_input_path(event, "$.detail.ticket")
    assert json.loads(body) == expected
    # Compact JSON in the event's key order: the exact text the ticketing API receives.
    assert body == json.dumps(expected, separators=(",", ":"))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("$.detail", '{"payload":{"acc_id":"0a787ecb-4015","sf_id":"baz"},"n":null,"k":3}'),
        ("$.detail.payload.sf_id", '"baz"'),
        ("$.detail.k", "3"),
        ("$.detail.n", "null"),
        ("$.resources[0]", '"client-1"'),
        ("$['detail']['payload']['acc_id']", '"0a787ecb-4015"'),
        ("$.detail.payload.*", '["0a787ecb-4015","baz"]'),
        ("$.resources[*].nope", "[]"),
    ],
)
def test_input_path_sends_the_json_text_of_the_selected_part(path: str, body: str) -> None:
    assert apply_input_path(EVENT, path) == body
    assert InputPath(path).apply(EVENT) == body


def test_the_whole_event_is_sent_for_dollar() -> None:
    assert json.loads(apply_input_path(EVENT, "$")) == EVENT


def test_a_path_that_matches_nothing_is_an_error_naming_path_event_and_rule() -> None:
    with pytest.raises(TransformError) as caught:
        apply_input_path(EVENT, "$.detail.nope", rule_name="tickets")
    message = str(caught.value)
    assert message == (
        "Rule 'tickets': InputPath '$.detail.nope' matches nothing in event 'e-1', so there is "
        "no input to send to the target."
    )
    assert caught.value.rule == "tickets"
    with pytest.raises(TransformError, match=r"^InputPath '\$\.x' matches nothing in event \(wi"):
        InputPath("$.x").apply({})


def test_an_invalid_input_path_fails_when_it_is_compiled() -> None:
    with pytest.raises(TransformError, match=r"^InputPath is invalid: .*filter expression"):
        InputPath("$.detail[?(@.k)]")
    with pytest.raises(TransformError, match="InputPath is invalid"):
        apply_input_path(EVENT, "detail")


def test_a_value_json_cannot_hold_is_an_error() -> None:
    with pytest.raises(TransformError, match="cannot be written as JSON"):
        apply_input_path({"big": 2**70}, "$.big", rule_name="r")


def test_input_path_repr_shows_the_path() -> None:
    assert repr(InputPath("$.detail")) == "InputPath('$.detail')"


@pytest.mark.parametrize("text", ['{"fixed": true}', "[1]", '"hello"', "3", "null", ' {"a":1} '])
def test_constant_input_accepts_json_text_unchanged(text: str) -> None:
    assert constant_input(text) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("hello", "must be valid JSON text"),
        ("{'a': 1}", "must be valid JSON text"),
        ("", "is empty"),
        ("   ", "is empty"),
        ('"' + "x" * 8191 + '"', "at most 8192"),
        (5, "must be a string of JSON, not int"),
    ],
)
def test_constant_input_refuses_what_eventbridge_refuses(text: Any, reason: str) -> None:
    with pytest.raises(TransformError) as caught:
        constant_input(text)
    assert reason in str(caught.value)


def test_the_exported_names_are_sorted_and_complete() -> None:
    # isort order: CONSTANTS, then Classes, then functions.
    order = sorted(transform.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert transform.__all__ == order
    public = {name for name in dir(transform) if not name.startswith("_")}
    modules = {"constant", "errors", "input", "input_path", "jsonpath", "render", "template"}
    assert public - modules == set(transform.__all__)
    assert issubclass(TransformError, ValueError)
