"""The list of top-level commands, one import per command module."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
