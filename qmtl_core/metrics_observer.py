"""The observer that turns order and feed events into Prometheus metrics.

It is a plain pluggy plugin implementing ``qmtl_order_event`` and ``qmtl_feed_event``,
so it can be registered on any registry's plugin manager. This module imports
``prometheus_client`` at the top: only :mod:`qmtl_core.metrics` imports it, and only
once metrics are turned on.

Labels stay low-cardinality on purpose: the connector class, the outcome, the order
status and the feed name. Never an order id or a symbol.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from qmtl_core.events import FeedEvent, OrderEvent
from qmtl_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from qmtl_core.rate_budget import RateBudget

log = logging.getLogger("qmtl_core.metrics")

#: Send-to-ack seconds: from well under a millisecond on loopback to a slow venue.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
#: Arrival-to-handler seconds of the oldest message of each delivered batch.
LAG_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)
#: The events that end a ``post_order``; each is the value of the ``outcome`` label.
OUTCOMES = frozenset({"acknowledged", "rejected", "unknown", "failed"})

RATE_BUDGET_USED = "qmtl_rate_budget_used"
JOURNAL_UNRESOLVED = "qmtl_journal_unresolved"

#: Every metric family this observer exports (histograms add _bucket/_sum/_count).
METRIC_NAMES = (
    "qmtl_orders_total",
    "qmtl_order_attempts_total",
    "qmtl_order_retries_total",
    "qmtl_orders_unknown_total",
    "qmtl_order_status_changes_total",
    "qmtl_order_latency_seconds",
    "qmtl_feed_messages_total",
    "qmtl_feed_dropped_total",
    "qmtl_feed_lag_seconds",
    "qmtl_feed_queue_depth",
    "qmtl_feed_disconnects_total",
    "qmtl_feed_reconnects_total",
    RATE_BUDGET_USED,
    JOURNAL_UNRESOLVED,
)


class StateGauges(Collector):
    """Gauges read at scrape time from callbacks the owning feature registers.

    The rate budget and the order journal know their own state; they hand a callable
    here and the number is read when Prometheus scrapes, never cached or guessed. A
    gauge nobody wired exports no sample at all (not a made-up zero).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._budgets: dict[tuple[str, str], Callable[[], float]] = {}
        self._whole_budgets: dict[str, RateBudget] = {}
        self._journal: Callable[[], float] | None = None

    def watch_rate_budget(self, account: str, pool: str, used: Callable[[], float]) -> None:
        """Export ``used()`` (the fraction of the pool's budget in use, 0 to 1)."""
        with self._lock:
            self._budgets[(account, pool)] = used

    def watch_budget(self, budget: RateBudget) -> None:
        """Export ``budget.used(pool)`` for every pool the budget has at scrape time
        (the venue's default pools may arrive after the client is built)."""
        with self._lock:
            self._whole_budgets[budget.account] = budget

    def watch_journal(self, unresolved: Callable[[], float]) -> None:
        """Export ``unresolved()`` (journaled orders whose outcome is not yet known)."""
        with self._lock:
            self._journal = unresolved

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            budgets = dict(self._budgets)
            for budget in self._whole_budgets.values():
                for pool in budget.limits:
                    budgets[(budget.account, pool)] = functools.partial(budget.used, pool)
            journal = self._journal
        family = GaugeMetricFamily(
            RATE_BUDGET_USED,
            "Fraction of a rate budget pool in use (0 to 1)",
            labels=["account", "pool"],
        )
        for (account, pool), used in budgets.items():
            _add(family, [account, pool], used)
        yield family
        family = GaugeMetricFamily(
            JOURNAL_UNRESOLVED, "Journaled orders whose outcome is not yet resolved"
        )
        if journal is not None:
            _add(family, [], journal)
        yield family


def _add(family: GaugeMetricFamily, labels: list[str], read: Callable[[], float]) -> None:
    """One sample read now; a store that cannot answer (down, closed) leaves the sample
    out of this scrape rather than failing the whole scrape or exporting a guess."""
    try:
        value = float(read())
    except Exception:
        log.warning("metrics: reading %s %s failed", family.name, labels, exc_info=True)
        return
    family.add_metric(labels, value)


class MetricsObserver:
    """Counts every order and feed event into metrics held in ``registry``.

    Register it on a plugin manager (``manager.register(observer)``); each observer
    owns its metrics, so two observers never count into each other.
    """

    #: The events it counts: the others (``validated`` ...) are not built for it.
    qmtl_event_kinds = frozenset(
        {"sent", "retried", "status_changed", *OUTCOMES}
        | {"delivered", "disconnected", "reconnected", "message_dropped"}
    )

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.state = StateGauges()
        self.registry.register(self.state)
        on = self.registry
        self._orders = _children(
            Counter(
                "qmtl_orders",
                "Orders by how post_order ended",
                ["connector", "outcome"],
                registry=on,
            )
        )
        self._attempts = _children(
            Counter(
                "qmtl_order_attempts", "Order sends, retries included", ["connector"], registry=on
            )
        )
        self._retries = _children(
            Counter(
                "qmtl_order_retries",
                "Order sends retried after a transient error",
                ["connector"],
                registry=on,
            )
        )
        self._unknown = _children(
            Counter(
                "qmtl_orders_unknown",
                "Orders whose outcome stayed unknown: reconcile them",
                ["connector"],
                registry=on,
            )
        )
        self._status = _children(
            Counter(
                "qmtl_order_status_changes",
                "Order status changes seen by polls and cancels",
                ["connector", "status"],
                registry=on,
            )
        )
        self._latency = _children(
            Histogram(
                "qmtl_order_latency_seconds",
                "Seconds from the first send to the acknowledgement",
                ["connector"],
                buckets=LATENCY_BUCKETS,
                registry=on,
            )
        )
        self._messages = _children(
            Counter(
                "qmtl_feed_messages", "Feed messages handed to on_message", ["feed"], registry=on
            )
        )
        self._dropped = _children(
            Counter(
                "qmtl_feed_dropped",
                "Feed frames dropped (not a JSON object)",
                ["feed"],
                registry=on,
            )
        )
        self._lag = _children(
            Histogram(
                "qmtl_feed_lag_seconds",
                "Seconds from a message's arrival to its handler (oldest message of each batch)",
                ["feed"],
                buckets=LAG_BUCKETS,
                registry=on,
            )
        )
        self._queue = _children(
            Gauge(
                "qmtl_feed_queue_depth",
                "Feed messages waiting for on_message",
                ["feed"],
                multiprocess_mode="livesum",
                registry=on,
            )
        )
        self._disconnects = _children(
            Counter(
                "qmtl_feed_disconnects", "Feed connections lost or stopped", ["feed"], registry=on
            )
        )
        self._reconnects = _children(
            Counter(
                "qmtl_feed_reconnects", "Feed connections re-established", ["feed"], registry=on
            )
        )

    def watch_rate_budget(self, account: str, pool: str, used: Callable[[], float]) -> None:
        """See :meth:`StateGauges.watch_rate_budget`."""
        self.state.watch_rate_budget(account, pool, used)

    def watch_journal(self, unresolved: Callable[[], float]) -> None:
        """See :meth:`StateGauges.watch_journal`."""
        self.state.watch_journal(unresolved)

    def watch_budget(self, budget: RateBudget) -> None:
        """See :meth:`StateGauges.watch_budget`."""
        self.state.watch_budget(budget)

    @hookimpl
    def qmtl_order_event(self, event: OrderEvent) -> None:
        kind, connector = event.kind, event.connector
        if kind == "sent":
            self._attempts(connector).inc()
        elif kind == "retried":
            self._retries(connector).inc()
        elif kind == "status_changed":
            self._status(connector, str(event.data.get("status"))).inc()
        elif kind in OUTCOMES:
            self._orders(connector, kind).inc()
            if kind == "unknown":
                self._unknown(connector).inc()
            latency = _number(event.data.get("latency"))
            if latency is not None:
                self._latency(connector).observe(latency)

    @hookimpl
    def qmtl_feed_event(self, event: FeedEvent) -> None:
        kind, feed = event.kind, event.feed
        if kind == "delivered":
            messages = _number(event.data.get("messages"))
            if messages:
                self._messages(feed).inc(messages)
            lag = _number(event.data.get("lag"))
            if lag is not None:
                self._lag(feed).observe(lag)
            queued = _number(event.data.get("queued"))
            if queued is not None:
                self._queue(feed).set(queued)
        elif kind == "disconnected":
            self._disconnects(feed).inc()
        elif kind == "reconnected":
            self._reconnects(feed).inc()
        elif kind == "message_dropped":
            self._dropped(feed).inc()


def _children(metric: Any) -> Callable[..., Any]:
    """``metric.labels`` with its children cached: prometheus_client's ``labels()`` checks
    and locks on every call, a few microseconds that every order would pay."""
    return functools.cache(metric.labels)


def _number(value: Any) -> float | None:
    """A numeric event field, or None when absent (an observer never raises on data)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
