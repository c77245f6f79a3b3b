"""docs/configuration-reference.md is generated from the model and must not go stale."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from clientevents.config import reference
from clientevents.config.model import Settings

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "configuration-reference.md"


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    seen.add(model)
    for field in model.model_fields.values():
        for inner in reference._nested(field.annotation)[1]:
            if inner not in seen:
                _models(inner, seen)
    return seen


def test_the_committed_reference_is_what_the_model_generates() -> None:
    expected = reference.render_reference(reference.load_examples(ROOT / "examples"))
    assert PAGE.read_text(encoding="utf-8") == expected, (
        "docs/configuration-reference.md is stale: run `bash scripts/config-reference.sh`."
    )


def test_every_field_of_every_model_has_a_row_with_its_description() -> None:
    text = reference.render_reference()
    for model in _models(Settings, set()):
        for name, field in model.model_fields.items():
            key = field.alias or name  # a key the file spells differently (schema)
            assert f"| `{key}` |" in text, f"{model.__name__}.{key} is missing"
            assert field.description, f"{model.__name__}.{name} has no description"


def test_check_mode_fails_on_a_stale_page(tmp_path: Path) -> None:
    page = tmp_path / "reference.md"
    page.write_text("old\n")
    args = [str(page), "--examples", str(ROOT / "examples"), "--check"]
    assert reference.main(args) == 1
    assert reference.main(args[:-1]) == 0  # writes it
    assert reference.main(args) == 0


def test_examples_come_from_the_example_files() -> None:
    text = reference.render_reference([{"buses": [{"name": "orders_bus"}]}])
    assert "| `name` | string; length ≥ 1, length ≤ 64" in text
    assert "`orders_bus`" in text
