"""``clientevents test-pattern``: exit 0 on match, 1 with the reasons, 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from clientevents.cli import main

EVENT = {
    "source": "clientevents",
    "detail-type": "prod",
    "resources": ["0f6c3c0e-1b7a-4a8e-9d61-2f5c7a8b9e10"],
    "detail": {"eventType": "loyaltypurchase", "schemaVersion": 2, "data": {"itemSku": 123}},
}


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["test-pattern", *args])
    return result.exit_code, result.stdout, result.stderr


def test_match_from_files(tmp_path: Path) -> None:
    pattern = tmp_path / "pattern.json"
    pattern.write_text(json.dumps({"detail": {"eventType": ["loyaltypurchase"]}}))
    event = tmp_path / "event.json"
    event.write_text(json.dumps(EVENT))
    code, out, _ = _run("--pattern", str(pattern), "--event", str(event))
    assert (code, out) == (0, "match\n")


def test_no_match_explains_each_field() -> None:
    pattern = {
        "source": ["other"],
        "detail": {"data": {"itemSku": [{"numeric": [">", 200]}]}, "missing": [{"exists": True}]},
    }
    code, out, _ = _run("--pattern", json.dumps(pattern), "--event", json.dumps(EVENT))
    assert code == 1
    assert out.splitlines() == [
        "no match:",
        '  detail.data.itemSku: wanted [{"numeric": [">", 200]}], had 123',
        '  detail.missing: wanted [{"exists": true}], had nothing (the field is absent or holds '
        "no value)",
        '  source: wanted ["other"], had "clientevents"',
    ]


def test_json_output() -> None:
    code, out, _ = _run(
        "--pattern", '{"source": ["other"]}', "--event", json.dumps(EVENT), "--json"
    )
    assert code == 1
    assert json.loads(out) == {
        "matches": False,
        "failures": [{"path": "source", "wanted": ["other"], "had": ["clientevents"]}],
    }


def test_invalid_inputs_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    code, _, err = _run("--pattern", '{"detail": {"price": [{"numeric": [">"]}]}}', "--event", "{}")
    assert code == 2
    assert "invalid pattern: detail.price[0].numeric: numeric operator '>' must be followed" in err
    code, _, err = _run("--pattern", '{"a": ["x"]}', "--event", "{not json")
    assert code == 2 and "invalid event: not valid JSON" in err
    code, _, err = _run("--pattern", '{"a": ["x"]}', "--event", "[1]")
    assert code == 2 and "must be a JSON object" in err
    code, _, err = _run("--pattern", str(tmp_path / "missing.json"), "--event", "{}")
    assert code == 2 and "neither JSON text nor an existing file" in err


def test_as_a_real_process(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(EVENT))
    args = [sys.executable, "-m", "clientevents", "test-pattern", "--pattern"]
    matched = subprocess.run(
        [*args, '{"source": ["clientevents"]}', "--event", str(event)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (matched.returncode, matched.stdout) == (0, "match\n")
    missed = subprocess.run(
        [*args, '{"source": [{"prefix": "x"}]}', "--event", str(event)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missed.returncode == 1 and "source: wanted" in missed.stdout
