"""Run every input-shaping case of tests/conformance/transform/cases/*.json.

A case file is ``{"description", "events": {name: event}, "cases": [case, ...]}``. A case has:

- ``name``, ``source`` (the page or recording it comes from) and an optional ``note``;
- ``event``: the name of one of the file's events, or an event inline;
- exactly one shaping: ``input_path`` (a path), ``input_transformer``
  (``{"InputPathsMap"?, "InputTemplate"}``) or ``input`` (a constant);
- optional ``render``: ``{"rule_name", "rule_arn", "ingestion_time"}`` given to the renderer;
- the expectation: ``output`` (the exact text) and/or ``output_json`` (JSON-equal), or ``error``
  (a part of the `TransformError` message) with ``error_at`` "construction" (the default) or
  "render".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clientevents.transform import InputPath, InputTransformer, TransformError, constant_input

CASES_DIR = Path(__file__).parent / "cases"
SHAPINGS = ("input_path", "input_transformer", "input")


def _load() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        events = document.get("events", {})
        for case in document["cases"]:
            event = case["event"]
            case = case | {"event": events[event] if isinstance(event, str) else event}
            params.append(pytest.param(case, id=case["name"]))
    return params


CASES = _load()


def test_the_corpus_is_well_formed() -> None:
    names = [param.values[0]["name"] for param in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CASES) >= 60
    for param in CASES:
        case = param.values[0]
        assert case["source"], case["name"]
        assert sum(key in case for key in SHAPINGS) == 1, case["name"]
        assert ("error" in case) != ("output" in case or "output_json" in case), case["name"]
        assert case.get("error_at", "construction") in ("construction", "render"), case["name"]


def _build(case: dict[str, Any]) -> Any:
    if "input_path" in case:
        return InputPath(case["input_path"])
    if "input_transformer" in case:
        spec = case["input_transformer"]
        return InputTransformer(spec.get("InputPathsMap"), spec["InputTemplate"])
    return constant_input(case["input"])


def _shape(shaping: Any, case: dict[str, Any]) -> str:
    options = case.get("render", {})
    if isinstance(shaping, InputPath):
        return shaping.apply(case["event"], rule_name=options.get("rule_name", ""))
    if isinstance(shaping, InputTransformer):
        return shaping.render(case["event"], **options)
    assert isinstance(shaping, str)
    return shaping


@pytest.mark.parametrize("case", CASES)
def test_case(case: dict[str, Any]) -> None:
    if "error" in case:
        if case.get("error_at") == "render":
            shaping = _build(case)  # a valid configuration...
            with pytest.raises(TransformError) as caught:
                _shape(shaping, case)  # ...that cannot shape this event
        else:
            with pytest.raises(TransformError) as caught:
                _build(case)
        assert case["error"] in str(caught.value)
        return
    output = _shape(_build(case), case)
    if "output" in case:
        assert output == case["output"]
    if "output_json" in case:
        assert json.loads(output) == case["output_json"]
