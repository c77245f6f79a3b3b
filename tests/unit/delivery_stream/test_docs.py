"""The YAML examples of docs/delivery-streams.md are valid configurations."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from clientevents.config import validate_settings
from clientevents.config.delivery_streams import DeliveryStreamConfig

DOC = Path(__file__).resolve().parents[3] / "docs" / "delivery-streams.md"
BLOCKS = re.findall(r"^```yaml\n(.*?)^```", DOC.read_text(encoding="utf-8"),
                    flags=re.DOTALL | re.MULTILINE)


def _handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"records": []}


@pytest.fixture(autouse=True)
def _migrated_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("transform")
    module.lambda_handler = _handler  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "transform", module)
    module2 = types.ModuleType("mypackage.transforms")
    module2.handler = _handler  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mypackage", types.ModuleType("mypackage"))
    monkeypatch.setitem(sys.modules, "mypackage.transforms", module2)


def test_the_page_has_its_examples() -> None:
    assert len(BLOCKS) >= 7


@pytest.mark.parametrize("block", [b for b in BLOCKS if "delivery_streams:" in b])
def test_whole_configurations_are_valid(block: str) -> None:
    data = yaml.safe_load(block)
    data.setdefault("buses", [{"name": "client_event_bus"}])
    environ = {"LAKE_ACCESS_KEY_ID": "a", "LAKE_SECRET_ACCESS_KEY": "b"}
    assert validate_settings(data, environ=environ).delivery_streams


@pytest.mark.parametrize(
    "block",
    [b for b in BLOCKS if "delivery_streams:" not in b and not b.startswith("- {id")],
)
def test_fragments_are_valid_stream_settings(block: str) -> None:
    fragment = yaml.safe_load(block)
    data: dict[str, Any] = {"name": "s", "destination": {"type": "local",
                                                          "local": {"path": "x"}}}
    data.update(fragment)
    if "prefix" not in data and "format" not in data:
        data.setdefault("error_output_prefix", None)
    if isinstance(data.get("destination"), dict) and data["destination"].get("type") == "s3":
        data["destination"]["s3"] = {k: v for k, v in data["destination"]["s3"].items()
                                     if not str(v).startswith("${")}
    DeliveryStreamConfig.model_validate(data)
