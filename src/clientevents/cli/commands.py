"""The top-level commands, one import per command module."""

from __future__ import annotations

import click

from clientevents.cli.archive import archive
from clientevents.cli.config import config
from clientevents.cli.connections import connections
from clientevents.cli.console import console
from clientevents.cli.dlq import dlq
from clientevents.cli.gateway import gateway
from clientevents.cli.generate import generate
from clientevents.cli.import_cfn import import_cloudformation
from clientevents.cli.init import init
from clientevents.cli.replay import replay
from clientevents.cli.secrets import secrets
from clientevents.cli.serve import serve
from clientevents.cli.tail import tail
from clientevents.cli.test_pattern import pattern_tester
from clientevents.cli.users import users
from clientevents.cli.validate import validate
from clientevents.cli.worker import worker

COMMANDS: list[click.Command] = [
    serve,
    gateway,
    worker,
    validate,
    config,
    pattern_tester,
    dlq,
    replay,
    archive,
    users,
    secrets,
    connections,
    console,
    generate,
    tail,
    init,
    import_cloudformation,
]
