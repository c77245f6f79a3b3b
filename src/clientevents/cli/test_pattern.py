"""``clientevents test-pattern``: does an event match an event pattern, and if not, why.

Exit status: 0 when the event matches, 1 when it does not (the failing fields are printed),
2 when the pattern is invalid or the pattern or event cannot be read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from clientevents.cli import output
from clientevents.patterns import EventPattern, InvalidEventPattern

__all__ = ["load_json_argument", "pattern_tester"]


def load_json_argument(value: str, what: str) -> str:
    """The JSON text given directly, or the content of the file it names."""
    if value.lstrip().startswith(("{", "[")):
        return value
    path = Path(value)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.UsageError(f"cannot read the {what} file {value}: {exc}") from exc
    if value == "-":
        return sys.stdin.read()
    raise click.UsageError(
        f"--{what} {value!r} is neither JSON text nor an existing file; pass the {what} as "
        "JSON (starting with '{') or the path of a JSON file"
    )


def _describe(values: list[Any]) -> str:
    if not values:
        return "nothing (the field is absent or holds no value)"
    return ", ".join(json.dumps(v) for v in values)


@click.command("test-pattern")
@click.option(
    "--pattern",
    "pattern_arg",
    required=True,
    metavar="FILE|JSON",
    help="The event pattern: JSON text or a JSON file.",
)
@click.option(
    "--event",
    "event_arg",
    required=True,
    metavar="FILE|JSON",
    help="The event: JSON text or a JSON file ('-' reads standard input).",
)
@output.json_option()
def pattern_tester(pattern_arg: str, event_arg: str, as_json: bool) -> None:
    """Test whether an event matches an EventBridge event pattern.

    Exits 0 on a match, 1 on no match (printing each failing field: what the pattern wanted
    and what the event had), 2 when the pattern is invalid or an input cannot be read.
    --json prints {"matches": ..., "failures": [...]} as one line.

    \b
    Example:
      clientevents test-pattern --event examples/event.json \\
          --pattern '{"detail": {"eventType": [{"prefix": "loyalty"}]}}'
    """
    try:
        pattern_text = load_json_argument(pattern_arg, "pattern")
        event_text = load_json_argument(event_arg, "event")
    except click.UsageError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    try:
        pattern = EventPattern(pattern_text)
    except InvalidEventPattern as exc:
        click.echo(f"invalid pattern: {exc}", err=True)
        sys.exit(2)
    try:
        event = json.loads(event_text)
    except ValueError as exc:
        click.echo(f"invalid event: not valid JSON: {exc}", err=True)
        sys.exit(2)
    if not isinstance(event, dict):
        click.echo("invalid event: an event must be a JSON object", err=True)
        sys.exit(2)
    failures = pattern.explain(event)
    if as_json:
        click.echo(json.dumps({"matches": not failures, "failures": failures}))
    elif not failures:
        output.console().print("match", style="green", markup=False)
    else:
        output.console().print("no match:", style="red", markup=False)
        for f in failures:
            line = f"  {f['path']}: wanted {json.dumps(f['wanted'])}, had {_describe(f['had'])}"
            if "note" in f:
                line += f" ({f['note']})"
            output.console().print(line, markup=False)
    sys.exit(0 if not failures else 1)
