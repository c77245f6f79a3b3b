"""Matcher throughput, memory and rule-add rate against a realistic client-event workload.

Run: ``.venv/bin/python -m bench.matcher`` (``--quick`` for a smoke run).

Events follow the envelope of shared/samples/event.json: ``source``, ``detail-type``, a client
id (uuid) in ``resources`` and a ``detail`` with ``eventType`` (one of 20), ``schemaVersion``
and a ``data`` object of a few numbers and strings per event type. Rule sets of 10, 100, 1,000
and 10,000 rules mix exact matches on source and detail.eventType, prefixes, numeric ranges,
anything-but, exists and ``$or``. For each size the benchmark prints the median and the best
events/s of ``Matcher.matches_for_event`` over interleaved rounds (every size once per round),
the memory the compiled rules hold (tracemalloc), the rate of ``Matcher.add``, and at 1,000
rules the rate of a plain loop over ``EventPattern.matches`` for every rule on the same events.
The scaling line gives the largest size's throughput over the smallest's three ways: of the
medians, the median of each round's own ratio, and of the bests.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc
import uuid
from collections.abc import Sequence
from typing import Any

from clientevents.patterns import EventPattern, Matcher

EVENT_TYPES: dict[str, dict[str, Any]] = {
    "searching": {"searchTerm": ["games", "shoes", "gift card", "laptop"], "results": (0, 200)},
    "pageview": {"page": ["/", "/shop", "/cart", "/account"], "durationMs": (10, 60000)},
    "loyaltypurchase": {"itemSku": (100, 999), "amount": (1, 500), "currency": ["EUR", "USD"]},
    "purchase": {"itemSku": (100, 999), "amount": (1, 2000), "currency": ["EUR", "USD", "GBP"]},
    "addtocart": {"itemSku": (100, 999), "quantity": (1, 10)},
    "removefromcart": {"itemSku": (100, 999), "quantity": (1, 10)},
    "signup": {"channel": ["web", "ios", "android"], "referrer": ["ads", "friend", "none"]},
    "login": {"channel": ["web", "ios", "android"], "attempts": (1, 5)},
    "logout": {"channel": ["web", "ios", "android"]},
    "review": {"itemSku": (100, 999), "stars": (1, 5)},
    "share": {"target": ["twitter", "mail", "link"], "itemSku": (100, 999)},
    "wishlist": {"itemSku": (100, 999), "category": ["toys", "books", "tech"]},
    "couponapplied": {"couponCode": ["SPRING", "VIP10", "WELCOME"], "discount": (1, 50)},
    "checkoutstarted": {"items": (1, 20), "amount": (1, 3000)},
    "checkoutfailed": {"reason": ["card", "stock", "timeout"], "amount": (1, 3000)},
    "videoplay": {"videoId": ["v1", "v2", "v3", "v4"], "positionSec": (0, 3600)},
    "videostop": {"videoId": ["v1", "v2", "v3", "v4"], "positionSec": (0, 3600)},
    "notificationopen": {"campaign": ["c-spring", "c-summer", "c-vip"], "latencyMs": (5, 9000)},
    "error": {"code": ["E100", "E200", "E500"], "screen": ["home", "cart", "pay"]},
    "feedback": {"score": (0, 10), "topic": ["ux", "price", "speed"]},
}
TYPES = sorted(EVENT_TYPES)


CLIENTS = [str(uuid.UUID(int=random.Random(i).getrandbits(128))) for i in range(5_000)]


def make_event(rng: random.Random) -> dict[str, Any]:
    """One client event in the envelope the gateway produces."""
    event_type = rng.choice(TYPES)
    data: dict[str, Any] = {}
    for name, spec in EVENT_TYPES[event_type].items():
        if isinstance(spec, tuple):
            low, high = spec
            data[name] = rng.randint(low, high) if rng.random() < 0.7 else rng.uniform(low, high)
        else:
            data[name] = rng.choice(spec)
    if rng.random() < 0.3:
        data["couponCode"] = rng.choice(["SPRING", "VIP10"])
    return {
        "version": "0",
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "detail-type": rng.choice(["prod", "prod", "prod", "staging"]),
        "source": "clientevents" if rng.random() < 0.9 else rng.choice(["partner.a", "batch"]),
        "account": "000000000000",
        "time": f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z",
        "region": "local",
        "resources": [rng.choice(CLIENTS)],
        "detail": {
            "eventType": event_type,
            "schemaVersion": rng.randint(1, 3),
            "data": data,
            "client": {"platform": rng.choice(["web", "ios", "android"]), "appVersion": "4.2"},
        },
    }


def _number_field(rng: random.Random, event_type: str) -> tuple[str, int, int] | None:
    fields = [(k, v) for k, v in EVENT_TYPES[event_type].items() if isinstance(v, tuple)]
    if not fields:
        return None
    name, (low, high) = rng.choice(fields)
    return name, low, high


def _string_field(rng: random.Random, event_type: str) -> tuple[str, list[str]] | None:
    fields = [(k, v) for k, v in EVENT_TYPES[event_type].items() if isinstance(v, list)]
    return rng.choice(fields) if fields else None


def _selective(rng: random.Random, event_type: str) -> dict[str, Any]:
    """A condition that singles out one client, one product or a narrow numeric window."""
    number = _number_field(rng, event_type)
    choice = rng.random()
    if choice < 0.5 or number is None:
        return {"resources": [rng.choice(CLIENTS)]}
    if choice < 0.75:
        if "itemSku" not in EVENT_TYPES[event_type]:
            return {"resources": [rng.choice(CLIENTS)]}
        return {"detail": {"data": {"itemSku": [rng.randint(100, 999)]}}}
    name, low, high = number
    width = (high - low) / 100
    cut = rng.randint(low, high)
    return {"detail": {"data": {name: [{"numeric": [">=", cut, "<", round(cut + width, 2)]}]}}}


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and key in out else value
    return out


def make_rule(rng: random.Random, *, broad: bool = False) -> dict[str, Any]:
    """One rule of the realistic mix.

    Every rule names the source and an event type; a selective rule (the default) also names
    one client, one product or a narrow numeric window, as routing rules for many tenants or
    products do, so the number of rules an event matches stays small as rules grow. A broad
    rule (``broad=True``) stops at the operator, so matches per event grow with the rule count.
    """
    event_type = rng.choice(TYPES)
    base: dict[str, Any] = {"source": ["clientevents"], "detail": {"eventType": [event_type]}}
    kind = rng.random()
    if kind < 0.25:  # exact on source, type and maybe schema version
        if rng.random() < 0.5:
            base["detail"]["schemaVersion"] = [rng.randint(1, 3)]
    elif kind < 0.40:  # prefix
        string = _string_field(rng, event_type)
        if string and rng.random() < 0.6:
            name, choices = string
            base["detail"]["data"] = {name: [{"prefix": rng.choice(choices)[:2]}]}
        else:
            base["resources"] = [{"prefix": f"{rng.getrandbits(12):03x}"}]
    elif kind < 0.60:  # numeric range
        number = _number_field(rng, event_type)
        if number:
            name, low, high = number
            cut = rng.randint(low, high)
            op = rng.choice([[">", cut], ["<=", cut], [">=", low, "<", max(cut, low + 1)]])
            base["detail"]["data"] = {name: [{"numeric": op}]}
    elif kind < 0.70:  # anything-but
        string = _string_field(rng, event_type)
        if string:
            name, choices = string
            base["detail"]["data"] = {name: [{"anything-but": rng.sample(choices, 1)}]}
        else:
            base["detail-type"] = [{"anything-but": "staging"}]
    elif kind < 0.80:  # exists
        base["detail"]["data"] = {"couponCode": [{"exists": rng.random() < 0.5}]}
    else:  # $or over types and a platform
        other = rng.choice(TYPES)
        base = {
            "source": ["clientevents"],
            "$or": [
                {"detail": {"eventType": [event_type, other]}},
                {
                    "detail": {
                        "client": {"platform": [rng.choice(["ios", "android"])]},
                        "schemaVersion": [rng.randint(1, 3)],
                    }
                },
            ],
        }
    if broad or (kind < 0.40 and "resources" in base):
        return base
    return _merge(base, _selective(rng, event_type))


def _build(rules: Sequence[dict[str, Any]]) -> tuple[Matcher, float]:
    matcher = Matcher()
    start = time.perf_counter()
    for i, rule in enumerate(rules):
        matcher.add(f"rule-{i}", rule)
    return matcher, time.perf_counter() - start


def _throughput(
    matcher: Matcher, events: Sequence[dict[str, Any]], repeats: int
) -> tuple[float, float]:
    rates = []
    matched = 0
    for _ in range(repeats):
        start = time.perf_counter()
        matched = 0
        for event in events:
            matched += len(matcher.matches_for_event(event))
        rates.append(len(events) / (time.perf_counter() - start))
    return statistics.median(rates), matched / len(events)


def _memory(rules: Sequence[dict[str, Any]]) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    matcher = Matcher()
    for i, rule in enumerate(rules):
        matcher.add(f"rule-{i}", rule)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del matcher
    return used


def _table(
    into: dict[int, Any],
    sizes: Sequence[int],
    all_rules: Sequence[dict[str, Any]],
    events: Sequence[dict[str, Any]],
    repeats: int,
) -> list[dict[int, float]]:
    """Measure every size; returns the rates of each round (one repeat of every size).

    Repeats are interleaved (every size once per round), so machine noise hits all sizes
    alike; the table shows the median and the best of the rounds.
    """
    built = {size: _build(all_rules[:size]) for size in sizes}
    rounds: list[dict[int, float]] = []
    per_event: dict[int, float] = {}
    for _ in range(repeats):
        rates: dict[int, float] = {}
        for size in sizes:
            rates[size], per_event[size] = _throughput(built[size][0], events, 1)
        rounds.append(rates)
    print(
        f"{'rules':>7} {'events/s':>10} {'best':>10} {'matches/ev':>10} {'memory':>10} "
        f"{'adds/s':>9}"
    )
    for size in sizes:
        memory = _memory(all_rules[:size])
        rate = statistics.median(r[size] for r in rounds)
        best = max(r[size] for r in rounds)
        adds = size / built[size][1]
        into[size] = {
            "events_per_sec": rate,
            "best_events_per_sec": best,
            "matches_per_event": per_event[size],
            "memory_bytes": memory,
            "adds_per_sec": adds,
        }
        print(
            f"{size:>7} {rate:>10,.0f} {best:>10,.0f} {per_event[size]:>10.2f} "
            f"{memory / 1e6:>8.2f}MB {adds:>9,.0f}"
        )
    del built
    return rounds


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its figures, and return them."""
    parser = argparse.ArgumentParser(prog="python -m bench.matcher", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=0, help="rounds (default 11, quick 1)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    sizes = [10, 100] if args.quick else [10, 100, 1_000, 10_000]
    repeats = args.repeats or (1 if args.quick else 11)
    events = [make_event(rng) for _ in range(200 if args.quick else 5_000)]
    all_rules = [make_rule(rng) for _ in range(max(sizes))]

    results: dict[str, Any] = {"sizes": {}, "broad": {}}
    print(f"events: {len(events)} per repeat, repeats: {repeats} (median and best reported)")
    print("selective rules (each names a client, a product or a narrow numeric window):")
    rounds = _table(results["sizes"], sizes, all_rules, events, repeats)
    broad_rules = [make_rule(rng, broad=True) for _ in range(max(sizes))]
    print("broad rules (operators only; matches per event grow with the rule count):")
    _table(results["broad"], sizes, broad_rules, events[: len(events) // 5], repeats)

    loop_size = 100 if args.quick else 1_000
    patterns = [EventPattern(r) for r in all_rules[:loop_size]]
    sample = events[: 50 if args.quick else 300]
    start = time.perf_counter()
    for event in sample:
        for p in patterns:
            p.matches(event)
    loop_rate = len(sample) / (time.perf_counter() - start)
    matcher_rate = results["sizes"][loop_size]["events_per_sec"]
    results["loop"] = {
        "rules": loop_size,
        "events_per_sec": loop_rate,
        "ratio": matcher_rate / loop_rate,
    }
    print(
        f"loop over EventPattern.matches at {loop_size} rules: {loop_rate:,.0f} events/s; "
        f"Matcher is {matcher_rate / loop_rate:,.0f}x faster"
    )
    first, last = results["sizes"][sizes[0]], results["sizes"][sizes[-1]]
    ratio = last["events_per_sec"] / first["events_per_sec"]
    per_round = statistics.median(r[sizes[-1]] / r[sizes[0]] for r in rounds)
    best = last["best_events_per_sec"] / first["best_events_per_sec"]
    results["scaling"] = ratio
    results["scaling_per_round"] = per_round
    results["scaling_best"] = best
    print(
        f"throughput at {sizes[-1]} rules / at {sizes[0]} rules: {ratio:.2f} "
        f"(medians; median of the rounds' own ratios {per_round:.2f}; bests {best:.2f})"
    )
    return results


if __name__ == "__main__":
    main()
