"""``clientevents generate``: the blueprint's event generator, with many users and a rate.

It signs in through the Cognito-compatible API (``USER_PASSWORD_AUTH``) and sends batches of the
blueprint's five event types to the ingest URL, as the blueprint's ``utils/generator.py`` does,
with its flags (``--minutes``, ``--batch``, ``--errors``, ``--loyalty``, ``--userid``,
``--password``, ``--appclientid``, ``--interval-secs``); ``--users``, ``--create-users``,
``--rate``, ``--duration`` and ``--url`` go further (``docs/generator.md``).
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path
from typing import Any

import click
from rich.live import Live
from rich.table import Table

from clientevents.cli import output
from clientevents.cli.remote import admin_key, endpoint_option, load_settings
from clientevents.config.identity import DEFAULT_CLIENT_ID
from clientevents.generator import Generator, GeneratorOptions, Snapshot, usernames

__all__ = ["generate", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``5m``, ``1.5h`` or ``500ms``.

    Raises:
        ValueError: not one of those forms, or zero.
    """
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write seconds (90) or 90s, 5m, 1.5h.")
    secs = float(match.group(1)) * _UNITS[match.group(2)]
    if secs <= 0:
        raise ValueError(f"{text!r} is not a positive duration.")
    return secs


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _boolean_text(ctx: click.Context, param: click.Parameter, value: str | None) -> bool:
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise click.BadParameter(f"{value!r} is not true or false (or give the flag alone).")


@click.command("generate")
@click.option("--userid", default="generator", show_default=True,
              help="The user to sign in as; with --users N, the prefix of N names "
                   "(USERID-01, USERID-02...).")
@click.option("--password", prompt=True, hide_input=True,
              help="The users' password (asked for when not given).")
@click.option("--appclientid", "--client-id", "client_id", default=DEFAULT_CLIENT_ID,
              show_default=True, help="The user pool's app client id.")
@click.option("--batch", type=click.IntRange(1, 10), default=10, show_default=True,
              help="Entries per request (1 to 10).")
@click.option("--loyalty", is_flag=False, flag_value="true", default=None,
              callback=_boolean_text, metavar="[true|false]",
              help="Include loyalty purchases (they open a ticket).")
@click.option("--errors", is_flag=True,
              help="Include the blueprint's malformed shopping entry (it gets a per-entry "
                   "error).")
@click.option("--interval-secs", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds between one client's batches (without --rate).")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Run this many minutes [default: until Ctrl-C].")
@click.option("--duration", callback=_duration, default=None, metavar="DURATION",
              help="Run this long: 90, 90s, 5m, 1.5h (instead of --minutes).")
@click.option("--users", "user_count", type=click.IntRange(1, 10_000), default=1,
              show_default=True, help="Simulated clients, each its own user.")
@click.option("--create-users", is_flag=True,
              help="Sign the users up and confirm them through the admin API first (existing "
                   "ones are kept); needs the admin key (--data-dir or the environment).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="EVENTS/S",
              help="Events per second across all clients, on an open-loop schedule "
                   "(replaces --interval-secs).")
@click.option("--url", default=None, metavar="URL",
              help="The ingest URL [default: ENDPOINT_URL/prod/event]; any server speaking the "
                   "blueprint's API, AWS included.")
@endpoint_option
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The server's data folder, for the admin key [default: ./data].")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="The server's configuration (pool id, admin key).")
@click.option("--seed", type=int, default=None, help="Seed of the random choice of entries.")
@click.option("--max-in-flight", type=click.IntRange(1, 10_000), default=256,
              show_default=True, help="Most requests awaiting an answer at once.")
@output.json_option()
@click.pass_context
def generate(ctx: click.Context, userid: str, password: str, client_id: str, batch: int,
             loyalty: bool, errors: bool, interval_secs: float, minutes: float | None,
             duration: float | None, user_count: int, create_users: bool, rate: float | None,
             url: str | None, endpoint_url: str, data_dir: Path | None,
             config_file: Path | None, seed: int | None, max_in_flight: int,
             as_json: bool) -> None:
    """Send the blueprint's client events as signed-in users, and measure the answers.

    Every client signs in (USER_PASSWORD_AUTH), then sends a batch of random entries of the
    five event types every --interval-secs, or, with --rate, its share of that many events per
    second. Tokens are refreshed before they expire; a 401 makes the client sign in again
    once. A live display shows progress on a terminal; the summary follows (--json: as JSON).

    \b
    Example:
      clientevents generate --userid alice --password 'Passw0rd!' --batch 5 --minutes 1
      clientevents generate --users 20 --create-users --password 'Passw0rd!' \\
          --rate 500 --duration 30s --errors --loyalty --json
    """
    if minutes is not None and duration is not None:
        raise click.UsageError("Give --minutes or --duration, not both.")
    source = ctx.get_parameter_source("interval_secs")
    if rate is not None and source is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("Give --rate or --interval-secs, not both.")
    settings = load_settings(config_file)
    pool = settings.identity.user_pool
    options = GeneratorOptions(
        url=url or endpoint_url.rstrip("/") + "/prod/event",
        endpoint_url=endpoint_url,
        usernames=usernames(userid, user_count),
        password=password,
        client_id=client_id,
        batch=batch,
        loyalty=loyalty,
        errors=errors,
        interval_secs=interval_secs,
        rate=rate,
        duration_secs=minutes * 60 if minutes is not None else duration,
        create_users=create_users,
        admin_credentials=admin_key(settings, data_dir) if create_users else None,
        user_pool_id=pool.id,
        region=settings.region,
        seed=seed,
        max_in_flight=max_in_flight,
    )
    summary = asyncio.run(_run(Generator(options), live=output.console(stderr=True).is_terminal))
    if as_json:
        output.echo_json(summary)
    else:
        _print_summary(summary)
    if summary["sent"] and not summary["accepted"]:
        raise click.ClickException(
            f"The server accepted none of the {summary['sent']} entries sent (rejected: "
            f"{_codes(summary['rejected'])}); check --url and that the users may send there."
        )


async def _run(generator: Generator, *, live: bool) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stopping = False

    def interrupt() -> None:
        nonlocal stopping
        if stopping:  # a second Ctrl-C: stop now
            loop.remove_signal_handler(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
        stopping = True
        generator.stop()

    try:
        loop.add_signal_handler(signal.SIGINT, interrupt)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread
        pass
    if not live:
        return await generator.run()
    with Live(_progress(generator.snapshot()), console=output.console(stderr=True),
              refresh_per_second=4, transient=True) as display:
        return await generator.run(on_progress=lambda snap: display.update(_progress(snap)))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _codes(rejected: dict[str, int]) -> str:
    return ", ".join(f"{code} {count}" for code, count in sorted(rejected.items())) or "none"


def _progress(snap: Snapshot) -> Table:
    grid = Table(title="clientevents generate (Ctrl-C stops)", show_header=True,
                 header_style="bold", title_justify="left")
    for name in ("elapsed", "sent", "accepted", "rejected", "rate", "p50", "p99", "in flight"):
        grid.add_column(name, justify="right")
    grid.add_row(f"{snap.elapsed_secs:.0f} s", str(snap.sent), f"[green]{snap.accepted}[/green]",
                 f"[red]{_codes(snap.rejected)}[/red]" if snap.rejected else "0",
                 f"{snap.current_rate:.0f}/s", _ms(snap.p50_ms), _ms(snap.p99_ms),
                 str(snap.in_flight))
    return grid


def _print_summary(summary: dict[str, Any]) -> None:
    latency = summary["latency_ms"]
    target = summary["target_rate_per_sec"]
    pairs: list[tuple[str, Any]] = [
        ("URL", summary["url"]),
        ("Users", summary["users"]),
        ("Duration", f"{summary['elapsed_secs']:.1f} s"),
        ("Requests", summary["requests"]),
        ("Entries sent", summary["sent"]),
        ("Accepted", summary["accepted"]),
        ("Rejected", f"{summary['rejected_total']} ({_codes(summary['rejected'])})"),
        ("Skipped", summary["skipped"]),
        ("Rate", f"{summary['rate_per_sec']:.1f}/s"
                 + (f" (target {target:g}/s)" if target is not None else "")),
        ("Latency", f"p50 {_ms(latency['p50'])}, p90 {_ms(latency['p90'])}, "
                    f"p99 {_ms(latency['p99'])}, max {_ms(latency['max'])}"),
        ("Token refreshes", summary["token_refreshes"]),
        ("Sign-ins again", summary["relogins"]),
    ]
    if summary["sign_in_errors"]:
        pairs.append(("Sign-in errors", "; ".join(summary["sign_in_errors"])))
    output.fields(pairs, title="Summary")
    sys.stdout.flush()
