"""The ``clientevents`` command line.

Each command group lives in its own module and registers itself on :data:`main` in
:func:`_register`; importing is explicit so there are no import-order side effects.

Conventions every command follows (``docs/cli.md``): ``--help`` shows an example; people get
tables and colours on a terminal, scripts get ``--json``; a mistake exits non-zero with a message
that says what to do next, never with a traceback.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any

import click

from clientevents import __version__
from clientevents.errors import ClientEventsError


class _Commands(click.Group):
    """The top-level group: turns the project's own errors and OS errors that reach it into
    one-line messages (exit status 1) instead of tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # The reader went away (`clientevents tail --json | head`): stop quietly, and keep
            # the interpreter's final flush from failing again.
            _silence_stdout()
            ctx.exit(0)
        except ClientEventsError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}.") from None


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file (a test runner's buffer)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clientevents")
def main() -> None:
    """clientevents: authenticated client events, EventBridge rules, at-least-once delivery.

    \b
    Example:
      clientevents serve                      # the blueprint's pipeline on ./data
      clientevents generate --userid gen --password 'Passw0rd!' --create-users \\
          --users 5 --minutes 1              # in a second terminal
      clientevents tail --bus client_event_bus
    """


def _register() -> None:
    from clientevents.cli import commands

    for command in commands.COMMANDS:
        main.add_command(command)


_register()
