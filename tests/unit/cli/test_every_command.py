"""Every command: --help with an example, --json where it prints results, and user mistakes
answered with a message and a non-zero status, never a traceback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from clientevents.cli import main

UNREACHABLE = "http://127.0.0.1:9"

# Commands that run until stopped and print logs, not results.
LONG_RUNNING = {"serve", "gateway", "worker"}


def _walk(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path
        if isinstance(command, click.Group):
            yield from _walk(command, path)


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


ALL = list(_walk(main))
LEAVES = [p for p in ALL if not isinstance(_command(p), click.Group)]


def _mistakes(tmp: Path) -> dict[tuple[str, ...], tuple[list[str], int, str]]:
    """A user mistake per command: (arguments, exit status, what the message says)."""
    empty, missing = str(tmp), str(tmp / "missing.yaml")
    no_db = "There is no database"
    no_key = "No admin key"
    (tmp / "exists.yaml").write_text("x: 1\n")
    (tmp / "not-a-template.yaml").write_text("just: text\n")
    return {
        # (A mistake click catches before serve sets up logging on this process's streams.)
        ("serve",): (["--http-server", "apache"], 2, "'apache' is not one of"),
        ("gateway",): (["--http-workers", "0"], 2, "not in the range"),
        ("worker",): (["--config", missing], 1, "the file does not exist"),
        ("validate",): ([missing], 2, "the file does not exist"),
        ("config", "schema"): (["extra"], 2, "Got unexpected extra argument"),
        ("test-pattern",): (["--pattern", '{"source": "x"}', "--event", "{}"], 2,
                            "invalid pattern"),
        ("dlq", "list"): (["--data-dir", empty], 1, no_key),
        ("dlq", "show"): (["1", "--data-dir", empty], 1, no_key),
        ("dlq", "redrive"): (["--all", "--data-dir", empty], 1, no_key),
        ("dlq", "purge"): (["1", "--data-dir", empty], 1, no_key),
        ("replay", "start"): (["--name", "x", "--archive", "a", "--from", "yesterday", "--to",
                               "2026-01-01T00:00:00Z"], 2, "--from"),
        ("replay", "status"): (["x", "--data-dir", empty], 1, no_key),
        ("replay", "cancel"): (["x", "--data-dir", empty], 1, no_key),
        ("replay", "list"): (["--data-dir", empty], 1, no_key),
        ("archive", "list"): (["--data-dir", empty], 1, no_key),
        ("archive", "describe"): (["x", "--data-dir", empty], 1, no_key),
        ("users", "code"): (["alice", "--data-dir", empty], 1, "No confirmation code"),
        ("users", "sign-up"): (["alice", "--password", "Passw0rd!", "--endpoint-url",
                                UNREACHABLE], 1, "Cannot reach"),
        ("users", "confirm"): (["alice", "123456", "--endpoint-url", UNREACHABLE], 1,
                               "Is `clientevents serve` running there?"),
        ("users", "login"): (["alice", "--password", "x", "--endpoint-url", UNREACHABLE], 1,
                             "--endpoint-url"),
        ("users", "admin-key"): (["--config", missing], 1, "the file does not exist"),
        ("users", "rotate-keys"): (["--data-dir", empty], 1, no_db),
        ("users", "list"): (["--data-dir", empty], 1, no_key),
        ("users", "show"): (["alice", "--data-dir", empty], 1, no_key),
        ("users", "disable"): (["alice", "--data-dir", empty], 1, no_key),
        ("users", "enable"): (["alice", "--data-dir", empty], 1, no_key),
        ("users", "delete"): (["alice", "--yes", "--data-dir", empty], 1, no_key),
        ("generate",): (["--password", "x", "--batch", "11"], 2, "1<=x<=10"),
        ("tail",): (["--data-dir", empty], 1, no_db),
        ("secrets", "set"): (["proto/x", "--from-env", "CLIENTEVENTS_TEST_UNSET_VARIABLE",
                              "--data-dir", empty], 1, "is not set"),
        ("secrets", "get"): (["proto/x", "--data-dir", empty], 1, no_db),
        ("secrets", "list"): (["--data-dir", empty], 1, no_db),
        ("secrets", "delete"): (["proto/x", "--data-dir", empty], 1, no_db),
        ("connections", "list"): (["--config", missing], 1, "the file does not exist"),
        ("connections", "describe"): (["nope", "--data-dir", empty], 1,
                                      "There is no connection 'nope'"),
        ("console", "add-user"): (["ops", "--password", "a long passphrase", "--data-dir",
                                   empty], 1, no_db),
        ("console", "remove-user"): (["ops", "--data-dir", empty], 1, no_db),
        ("console", "list-users"): (["--data-dir", empty], 1, no_db),
        ("console", "sign-in-link"): (["--data-dir", empty], 1, no_db),
        ("init",): ([str(tmp / "exists.yaml")], 1, "pass --force"),
        ("import-cloudformation",): ([str(tmp / "not-a-template.yaml")], 1,
                                     "has no Resources mapping"),
    }


def test_the_mistakes_cover_every_command(tmp_path: Path) -> None:
    assert set(_mistakes(tmp_path)) == set(LEAVES)


@pytest.mark.parametrize("path", ALL, ids=[" ".join(p) for p in ALL])
def test_help_shows_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert re.search(r"Example:\n\s+\S*clientevents ", result.output), result.output


def test_the_top_level_help_shows_an_example_too() -> None:
    result = CliRunner().invoke(main, ["-h"])
    assert result.exit_code == 0 and "Example:" in result.output


@pytest.mark.parametrize("path", LEAVES, ids=[" ".join(p) for p in LEAVES])
def test_json_is_spelled_the_same_everywhere(path: tuple[str, ...]) -> None:
    options = {opt for param in _command(path).params for opt in getattr(param, "opts", [])}
    if path[0] in LONG_RUNNING:
        assert "--json" not in options
    else:
        assert "--json" in options
    hidden = [p for p in _command(path).params if getattr(p, "hidden", False)]
    assert all(p.opts == ["--format"] for p in hidden)  # only the deprecated alias hides


@pytest.mark.parametrize("path", LEAVES, ids=[" ".join(p) for p in LEAVES])
def test_user_mistakes_get_a_message_not_a_traceback(path: tuple[str, ...],
                                                     tmp_path: Path) -> None:
    args, code, message = _mistakes(tmp_path)[path]
    result = CliRunner().invoke(main, [*path, *args])
    assert result.exit_code == code, result.output
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    assert "Traceback" not in result.output


@pytest.mark.parametrize("path", LEAVES, ids=[" ".join(p) for p in LEAVES])
def test_an_unknown_option_is_a_usage_error(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--no-such-option"])
    assert result.exit_code == 2
    assert "No such option '--no-such-option'" in result.output
