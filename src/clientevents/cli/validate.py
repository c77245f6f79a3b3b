"""``clientevents validate FILE...``: check configuration files and name every problem."""

from __future__ import annotations

import re
import sys
from typing import Any

import click

from clientevents.cli import output
from clientevents.config import ConfigFileError, ConfigValidationError, Settings, load_config
from clientevents.errors import ConfigError
from clientevents.log.factory import check_log
from clientevents.store.factory import check_store

__all__ = ["counts", "summary", "validate"]


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


def counts(settings: Settings) -> dict[str, int]:
    """What a configuration defines, counted by kind."""
    return {
        "buses": len(settings.buses),
        "rules": len(settings.rules),
        "targets": sum(len(rule.targets) for rule in settings.rules),
        "stages": len(settings.stages),
        "archives": len(settings.archives),
        "streams": len(settings.streams),
        "schemas": len(settings.schemas),
        "issuers": len(settings.identity.issuers),
    }


_WORDS = {
    "buses": ("bus", "buses"), "rules": ("rule", "rules"), "targets": ("target", "targets"),
    "stages": ("stage", "stages"), "archives": ("archive", "archives"),
    "streams": ("stream", "streams"), "schemas": ("schema", "schemas"),
    "issuers": ("issuer", "issuers"),
}


def summary(settings: Settings) -> str:
    """What a configuration defines, counted: "1 bus, 2 rules, 2 targets, ..."."""
    return ", ".join(_count(n, *_WORDS[kind]) for kind, n in counts(settings).items())


_UNSET = re.compile(r"environment variable '([A-Za-z_][A-Za-z0-9_]*)' is not set")


def unset_variables(report: dict[str, Any]) -> list[str]:
    """The environment variables a file references that are not set, in file order."""
    names: list[str] = []
    for problem in report["problems"]:
        for name in _UNSET.findall(problem["message"]):
            if name not in names:
                names.append(name)
    return names


def _check(file: str) -> tuple[int, dict[str, Any]]:
    """(exit status, report) of one file: 0 valid, 1 invalid, 2 unreadable."""
    try:
        settings = load_config(file)
    except ConfigFileError as exc:
        return 2, {"file": file, "valid": False, "readable": False, "problems": [
            {"path": "", "message": str(exc)}]}
    except ConfigValidationError as exc:
        return 1, {"file": file, "valid": False, "readable": True, "problems": [
            {"path": path, "message": message} for path, message in exc.problems],
            "message": str(exc), "counted": True}
    except ConfigError as exc:
        return 1, {"file": file, "valid": False, "readable": True, "problems": [
            {"path": exc.path, "message": str(exc)}], "message": str(exc), "counted": False}
    unreachable = [(path, problem) for path, problem in (
        ("storage.postgres.dsn", check_store(settings)),
        ("storage.jetstream.servers", check_log(settings)),
    ) if problem is not None]
    if unreachable:
        return 1, {"file": file, "valid": False, "readable": True, "problems": [
            {"path": path, "message": problem} for path, problem in unreachable],
            "message": "\n".join(f"{file}: {path}: {problem}" for path, problem in unreachable),
            "counted": True}
    return 0, {"file": file, "valid": True, "readable": True, "problems": [],
               "defines": counts(settings), "summary": summary(settings)}


@click.command("validate")
@click.argument("files", nargs=-1, required=True, metavar="FILE...",
                type=click.Path(dir_okay=True, path_type=str))
@output.json_option()
def validate(files: tuple[str, ...], as_json: bool) -> None:
    """Check configuration files: exit 0 when all are valid, 1 when one is not (every problem
    is listed, with its field path and line; a PostgreSQL store or a JetStream log that does not
    answer is one),
    2 when one cannot be read.

    \b
    Example:
      clientevents validate clientevents.yaml
      clientevents validate examples/*.yaml --json
    """
    status = 0
    reports = []
    for file in files:
        code, report = _check(file)
        status = max(status, code)
        counted = report.pop("counted", False)
        reports.append(report)
        if as_json:
            continue
        if code == 0:
            output.success(f"{file} is valid: {report['summary']}.")
        elif code == 2:
            click.echo(report["problems"][0]["message"], err=True)
        else:
            unset = unset_variables(report)
            if unset:
                click.echo(
                    f"{file} needs environment variables that are not set: {', '.join(unset)}. "
                    "Set them (export NAME=value) and run again.",
                    err=True,
                )
            click.echo(report["message"], err=True)
            problems = len(report["problems"])
            counted_text = f": {_count(problems, 'problem', 'problems')}" if counted else ""
            click.echo(f"{file} is not valid{counted_text}.", err=True)
    if as_json:
        output.echo_json({"valid": status == 0, "files": reports})
    sys.exit(status)
