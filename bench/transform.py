"""Input shaping on the router's hot path: renders per second of InputPath and InputTransformer.

Run ``.venv/bin/python -m bench.transform`` (``--quick`` for a short smoke run). Each case renders
the reference loyaltypurchase event in a tight loop; the figure is the median of several repeats
(one core, no I/O). For scale it also times ``orjson.dumps`` of the whole event, the floor of any
shaping that writes the event out, and prints each case's cost relative to it.

Cases:

- ``input_path``: ``InputPath("$.detail.ticket").apply(event)`` (the ticketing rule);
- ``apply_input_path``: the same through the cached module function;
- ``json_template_5_vars``: a JSON template with five variables, in and out of strings;
- ``event_json_line``: ``<aws.events.event.json>\\n`` (the delivery stream's default);
- ``event_line``: ``<aws.events.event>\\n`` (the blueprint's template, without detail).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from clientevents.transform import InputPath, InputTransformer, apply_input_path

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "prod",
    "source": "clientevents",
    "account": "000000000000",
    "time": "2026-11-27T05:00:00Z",
    "region": "local",
    "resources": ["0f6c3c0e-1b7a-4a8e-9d61-2f5c7a8b9e10"],
    "detail": {
        "eventType": "loyaltypurchase",
        "schemaVersion": 2,
        "data": {"itemSku": 123},
        "ticket": {
            "ticket": {
                "subject": "Loyalty customer purchase",
                "comment": {"body": "This customer has made a loyalty purchase"},
            }
        },
    },
}
RULE = {"rule_name": "loyalty", "rule_arn": "arn:aws:events:local:000000000000:rule/b/loyalty"}


def cases() -> dict[str, Callable[[], str]]:
    """The measured calls, each rendering EVENT once."""
    ticket = InputPath("$.detail.ticket")
    five = InputTransformer(
        {
            "type": "$.detail.eventType",
            "version": "$.detail.schemaVersion",
            "client": "$.resources[0]",
            "sku": "$.detail.data.itemSku",
            "subject": "$.detail.ticket.ticket.subject",
        },
        '{"type": <type>, "version": <version>, "client": <client>, "sku": <sku>, '
        '"summary": "<subject>: item <sku> for <client>", "rule": <aws.events.rule-name>}',
    )
    event_json = InputTransformer(None, "<aws.events.event.json>\n")
    event_line = InputTransformer(None, "<aws.events.event>\n")
    return {
        "orjson.dumps(event) [floor]": lambda: orjson.dumps(EVENT).decode(),
        "input_path": lambda: ticket.apply(EVENT),
        "apply_input_path": lambda: apply_input_path(EVENT, "$.detail.ticket"),
        "json_template_5_vars": lambda: five.render(EVENT, **RULE),
        "event_json_line": lambda: event_json.render(EVENT, **RULE),
        "event_line": lambda: event_line.render(EVENT, **RULE),
    }


def measure(calls: dict[str, Callable[[], str]], loops: int, repeats: int) -> dict[str, float]:
    """Median renders per second of each call over ``repeats`` runs of ``loops`` calls.

    The runs are interleaved (one run of every case, then the next round) so that a machine
    whose load changes during the benchmark weighs on every case alike.
    """
    rates: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(loops):
                call()
            rates[name].append(loops / (time.perf_counter() - start))
    return {name: statistics.median(runs) for name, runs in rates.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer loops, for a smoke run")
    args = parser.parse_args(argv)
    loops, repeats = (2_000, 3) if args.quick else (20_000, 15)
    measured = cases()
    for call in measured.values():  # warm caches and the interpreter
        for _ in range(1_000):
            call()
    rates = measure(measured, loops, repeats)
    floor = next(iter(rates.values()))
    print(f"input shaping, {loops} renders x {repeats} interleaved repeats, median per case")
    print(f"{'case':<30} {'renders/s':>12} {'us/render':>10} {'x floor':>8}")
    for name, rate in rates.items():
        print(f"{name:<30} {rate:>12,.0f} {1e6 / rate:>10.2f} {floor / rate:>8.2f}")


if __name__ == "__main__":
    main()
