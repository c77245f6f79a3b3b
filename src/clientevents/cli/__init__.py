"""The ``clientevents`` command line.

Each command group lives in its own module and registers itself on :data:`main` in
:func:`_register`; importing is explicit so there are no import-order side effects.
"""

from __future__ import annotations

import click

from clientevents import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clientevents")
def main() -> None:
    """clientevents: authenticated client events, EventBridge rules, at-least-once delivery."""


def _register() -> None:
    from clientevents.cli import commands

    for command in commands.COMMANDS:
        main.add_command(command)


_register()
