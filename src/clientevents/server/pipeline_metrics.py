"""The pipeline's state as Prometheus metrics, read from the store when ``/metrics`` is scraped.

The gateway's own counters (:mod:`.metrics`) say what it answered; these say what happened to
the events after that, whichever process did the work (they are read from the database the
workers write, so a scrape of any gateway sees them all):

===================================================  =========  ===============================
metric                                               type       labels
===================================================  =========  ===============================
``clientevents_consumer_lag_seconds``                gauge      bus, group (``router``,
                                                                ``archive:<name>``)
``clientevents_log_head_seq``                        gauge      bus
``clientevents_delivery_pending``                    gauge      target (``bus/rule/id``)
``clientevents_delivery_retrying``                   gauge      target
``clientevents_delivery_oldest_age_seconds``         gauge      target
``clientevents_dead_letters``                        gauge      target
``clientevents_deliveries_total``                    counter    target, outcome (``delivered``,
                                                                ``retried``, ``dead_lettered``,
                                                                ``dropped``)
===================================================  =========  ===============================

Targets are the configuration's (plus any key that still holds work), so every label set is
bounded by the configuration. A consumer's lag is the age of the oldest event of its bus it has
not committed yet (0 when it is caught up): the router's is how late routing runs.
``docs/operations.md`` says what to alert on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from clientevents.config.model import Settings
from clientevents.log.port import EventLogPort
from clientevents.store.port import StateStore
from clientevents.targets.counters import DeliveryState, delivery_state
from clientevents.targets.queue import target_key

__all__ = ["render_pipeline_metrics"]

_OUTCOMES = ("delivered", "retried", "dead_lettered", "dropped")


class _PipelineCollector:
    def __init__(self, db: StateStore, log: EventLogPort, settings: Settings, now: float) -> None:
        self.db, self.log, self.settings, self.now = db, log, settings, now

    def collect(self) -> Iterator[Metric]:
        yield from self._consumers()
        yield from self._deliveries()

    def _consumers(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "clientevents_consumer_lag_seconds",
            "Age of the oldest event of the bus the consumer group has not committed (0: "
            "caught up).", labels=("bus", "group"))
        head = GaugeMetricFamily(
            "clientevents_log_head_seq", "The newest log position of the bus.", labels=("bus",))
        for bus in self.settings.bus_names():
            head.add_metric((bus,), float(self.log.head(bus)))
            # The router reads every bus; before its first commit its offset is 0.
            groups = {"router": 0, **self.log.offsets(bus)}
            for group, offset in sorted(groups.items()):
                waiting = self.log.read_after(bus, offset, 1)
                age = max(0.0, self.now - waiting[0].ingested_at) if waiting else 0.0
                lag.add_metric((bus, group), age)
        yield lag
        yield head

    def _deliveries(self) -> Iterator[Metric]:
        states = self.db.read(delivery_state)
        keys = [target_key(rule.bus, rule.name, target.id) for rule in self.settings.rules
                for target in rule.targets]
        keys += [key for key in states if key not in keys]
        families: dict[str, Any] = {
            "pending": GaugeMetricFamily("clientevents_delivery_pending",
                                         "Deliveries waiting in the target's queue.",
                                         labels=("target",)),
            "retrying": GaugeMetricFamily("clientevents_delivery_retrying",
                                          "Waiting deliveries that failed at least once.",
                                          labels=("target",)),
            "oldest": GaugeMetricFamily("clientevents_delivery_oldest_age_seconds",
                                        "Age of the oldest waiting delivery (0: none).",
                                        labels=("target",)),
            "dead": GaugeMetricFamily("clientevents_dead_letters",
                                      "Deliveries in the target's dead-letter queue now.",
                                      labels=("target",)),
        }
        totals = CounterMetricFamily("clientevents_deliveries",
                                     "Settled deliveries by outcome, since the first.",
                                     labels=("target", "outcome"))
        for key in keys:
            state = states.get(key, DeliveryState(key))
            oldest = state.oldest_enqueued_at
            families["pending"].add_metric((key,), float(state.pending))
            families["retrying"].add_metric((key,), float(state.retrying))
            families["oldest"].add_metric((key,), max(0.0, self.now - oldest) if oldest else 0.0)
            families["dead"].add_metric((key,), float(state.dead_letters))
            for outcome in _OUTCOMES:
                totals.add_metric((key, outcome), float(getattr(state, outcome)))
        yield from families.values()
        yield totals


def render_pipeline_metrics(db: StateStore, log: EventLogPort, settings: Settings,
                            now: float | None = None) -> bytes:
    """The pipeline's metrics in Prometheus' text format (blocking: reads the database)."""
    registry = CollectorRegistry(auto_describe=False)
    collector: Any = _PipelineCollector(db, log, settings, time.time() if now is None else now)
    registry.register(collector)
    return generate_latest(registry)
