"""What the commands print: rich tables and colours for people, plain JSON for scripts.

Every command prints through this module, so the look is one and ``--json`` means the same
everywhere:

- :func:`json_option` adds ``--json`` (and, where a command had it, the deprecated hidden
  ``--format table|json`` alias, which warns on standard error);
- :func:`echo_json` prints indented JSON (no colour, no wrapping: it is for programs);
- :func:`table`, :func:`fields`, :func:`pretty_json` render for people; colours appear only on a
  terminal (rich's detection; ``NO_COLOR`` turns them off), and output piped to a file is plain.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click
import orjson
from rich import box
from rich.console import Console
from rich.json import JSON
from rich.table import Table
from rich.text import Text

__all__ = [
    "console",
    "echo_json",
    "echo_json_line",
    "fields",
    "json_option",
    "note",
    "pretty_json",
    "record",
    "success",
    "table",
    "warn",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Width of output that is not a terminal (a file, a pipe): wide enough not to wrap tables.
PLAIN_WIDTH = 200


def console(*, stderr: bool = False) -> Console:
    """A console on the current standard output (or error); made per call so that it follows
    whatever ``sys.stdout`` is now (the test runner swaps it)."""
    stream = sys.stderr if stderr else sys.stdout
    terminal = bool(getattr(stream, "isatty", lambda: False)())
    return Console(file=stream, width=None if terminal else PLAIN_WIDTH, highlight=False,
                   soft_wrap=not terminal)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON, for scripts."""
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


def echo_json_line(data: Any) -> None:
    """Print ``data`` as one line of compact JSON (JSON Lines)."""
    click.echo(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode())


def pretty_json(data: Any) -> None:
    """Print ``data`` as indented JSON, highlighted on a terminal."""
    out = console()
    if out.is_terminal:
        out.print(JSON.from_data(data, indent=2))
    else:
        echo_json(data)


#: A header underlined with dashes and no other lines: plain text when piped to a file.
_PLAIN_HEAD = box.Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)


def _emit(renderable: Any, *, stderr: bool = False) -> None:
    """Print a rich renderable: styled on a terminal; elsewhere as plain text without trailing
    spaces."""
    out = console(stderr=stderr)
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()), err=stderr)


def _text(cell: Any) -> Text:
    """A cell as literal text (brackets in data are not markup); ``Text`` passes through."""
    if isinstance(cell, Text):
        return cell
    return Text("-" if cell is None else str(cell))


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
          caption: str | None = None, empty: str = "Nothing to show.",
          stderr: bool = False) -> None:
    """Print ``rows`` under ``columns`` (``None`` cells print as ``-``; a ``rich.text.Text``
    cell keeps its style)."""
    rows = list(rows)
    if not rows:
        click.echo(empty, err=stderr)
        return
    terminal = console(stderr=stderr).is_terminal
    grid = Table(title=title, caption=caption, header_style="bold", title_justify="left",
                 caption_justify="left", box=box.SIMPLE_HEAD if terminal else _PLAIN_HEAD,
                 show_edge=False, pad_edge=False)
    for name in columns:
        grid.add_column(name, overflow="fold")
    for row in rows:
        grid.add_row(*(_text(cell) for cell in row))
    _emit(grid, stderr=stderr)


def fields(pairs: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
    """Print one object as a two-column table of names and values."""
    grid = Table(title=title, show_header=False, title_justify="left", box=None,
                 padding=(0, 2, 0, 0), pad_edge=False)
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for name, value in pairs:
        grid.add_row(_text(name), _text(value))
    _emit(grid)


def record(data: dict[str, Any], *, title: str | None = None) -> None:
    """Print one JSON-like object as names and values (nested keys joined with ``.``, lists
    joined with ``, ``)."""
    fields(_flatten(data, ""), title=title)


def _flatten(data: dict[str, Any], prefix: str) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            pairs.extend(_flatten(value, name + "."))
        elif isinstance(value, list):
            pairs.append((name, ", ".join(str(v) for v in value) or "-"))
        else:
            pairs.append((name, value))
    return pairs


def success(message: str) -> None:
    """A line saying what was done (green on a terminal)."""
    console().print(f"[green]{_escape(message)}[/green]")


def note(message: str) -> None:
    """A line of information on standard error (dim on a terminal)."""
    console(stderr=True).print(f"[dim]{_escape(message)}[/dim]")


def warn(message: str) -> None:
    """A warning on standard error (yellow on a terminal)."""
    console(stderr=True).print(f"[yellow]Warning:[/yellow] {_escape(message)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def json_option(*, legacy_format: bool = False) -> Callable[[F], F]:
    """Add ``--json`` (parameter ``as_json``); with ``legacy_format``, also the hidden,
    deprecated ``--format table|json`` the command used to take."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            old = kwargs.pop("legacy_format", None)
            if old is not None:
                warn(f"--format {old} is deprecated and will be removed; use --json "
                     "(or leave it out for a table).")
                kwargs["as_json"] = kwargs.get("as_json") or old == "json"
            return fn(*args, **kwargs)

        decorated: Any = wrapper
        if legacy_format:
            decorated = click.option(
                "--format", "legacy_format", type=click.Choice(["table", "json"]), default=None,
                hidden=True, help="Deprecated: use --json.",
            )(decorated)
        decorated = click.option(
            "--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of text.",
        )(decorated)
        return decorated  # type: ignore[no-any-return]

    return decorate
