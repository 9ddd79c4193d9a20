"""A scripted session against real loopback peers, scraped over HTTP: every number
on ``/metrics`` is what happened (orders with retries, a rejection, an unknown outcome
and a failure on the reference broker; a WebSocket feed that loses its connection)."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qmtl_core import (
    MetricsExporter,
    OrderRejected,
    OrderStatus,
    OrderStatusUnknown,
    TransientError,
    enable_metrics,
    load_connectors,
    runtime,
)
from qmtl_core.journal import EntryState
from qmtl_core.orders import validate_order
from qmtl_core.testing import until
from qmtl_core.testing.events import record_events
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.server import BrokerServer
from qmtl_plugin_websocket.feed import WebSocketFeed
from qmtl_plugin_websocket.gateway import Gateway

HTTP = "HttpBrokerageClient"
SYMBOL = "BTC/USDT"
TOKEN = "metrics-test-token"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(exporter: MetricsExporter) -> Samples:
    """GET /metrics over HTTP and parse it with prometheus_client's own parser."""
    assert exporter.url is not None and exporter.url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(exporter.url, timeout=5) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def order(**extra: Any) -> dict[str, Any]:
    return {"symbol": SYMBOL, "side": "BUY", "type": "market", "quantity": "0.01", **extra}


@pytest.fixture
def exporter() -> Iterator[MetricsExporter]:
    with enable_metrics(port=0) as running:
        yield running


def test_orders_with_retries_rejection_unknown_and_failure(exporter: MetricsExporter) -> None:
    with (
        BrokerServer(prices={SYMBOL: 50000}) as broker,
        HttpBrokerageClient(broker.url, max_retries=3, backoff=0.01) as client,
    ):
        started = time.perf_counter()
        for _ in range(3):
            assert client.post_order(order()).status is OrderStatus.FILLED
        broker.faults.fail_next(2, 500, method="POST")  # 2 retries, then acknowledged
        assert client.post_order(order()).status is OrderStatus.FILLED
        resting = client.post_order({**order(), "type": "limit", "limit_price": 49000})
        acked_within = time.perf_counter() - started
        broker.set_price(SYMBOL, 48000)
        assert client.poll_order_status(resting).status is OrderStatus.FILLED
        broker.faults.fail_next(1, 400, method="POST")
        with pytest.raises(OrderRejected):
            client.post_order(order())
        broker.faults.fail_next(20, 500, accept=True)  # placed, but nobody can tell: 3 retries
        with pytest.raises(OrderStatusUnknown):
            client.post_order(order())
        broker.faults.clear()
        posts_seen = len(broker.seen("POST"))
        url = broker.url
    with HttpBrokerageClient(url, max_retries=1, backoff=0.01) as gone:
        with pytest.raises(TransientError):  # the broker is down: 1 retry, never placed
            gone.post_order(order())

    samples = scrape(exporter)
    assert posts_seen == 3 + 3 + 1 + 1 + 1
    assert value(samples, "qmtl_order_attempts_total", connector=HTTP) == posts_seen + 2
    assert value(samples, "qmtl_order_retries_total", connector=HTTP) == 2 + 3 + 1
    outcomes = {"acknowledged": 5, "rejected": 1, "unknown": 1, "failed": 1}
    for outcome, count in outcomes.items():
        assert value(samples, "qmtl_orders_total", connector=HTTP, outcome=outcome) == count
    assert value(samples, "qmtl_orders_unknown_total", connector=HTTP) == 1
    assert value(samples, "qmtl_order_status_changes_total", connector=HTTP, status="filled") == 1
    assert value(samples, "qmtl_order_latency_seconds_count", connector=HTTP) == 5
    latency = value(samples, "qmtl_order_latency_seconds_sum", connector=HTTP)
    assert latency is not None and 0 < latency <= acked_within
    # The retried order waited two backoffs of about 10 ms: it is in no bucket below 10 ms.
    under_5ms = value(samples, "qmtl_order_latency_seconds_bucket", connector=HTTP, le="0.005")
    assert under_5ms is not None and under_5ms <= 4
    # Labels never carry an order id or a symbol.
    assert not [key for key in samples if any(v == SYMBOL or "-" in v for _, v in key[1])]


def test_a_feed_that_drops_and_reconnects(
    exporter: MetricsExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "WS_BACKOFF_INITIAL_SECONDS", 0.02)
    received: list[dict[str, Any]] = []

    async def on_message(message: dict[str, Any]) -> None:
        received.append(message)

    async def session(gateway: Gateway) -> tuple[Samples, Samples, list[Any]]:
        with record_events() as events:

            def handed() -> int:
                return sum(e.data["messages"] for e in events.of("delivered"))

            feed = WebSocketFeed(gateway.url, on_message=on_message, token=TOKEN)
            await feed.start()
            gateway.wait_for_connections()
            gateway.stream(10)
            gateway.send_raw("not json")
            await until(lambda: handed() == 10 and feed.stats.dropped == 1)
            gateway.drop_connections()
            await until(lambda: feed.stats.reconnects == 1 and gateway.connections == 2)
            gateway.stream(5, start=10)
            await until(lambda: handed() == 15)
            running = scrape(exporter)
            await feed.stop()
            stopped = scrape(exporter)
            return running, stopped, events.of("delivered")

    with Gateway(TOKEN) as gateway:
        running, stopped, delivered = asyncio.run(asyncio.wait_for(session(gateway), 30))

    assert [m["seq"] for m in received] == list(range(15))
    assert value(running, "qmtl_feed_messages_total", feed="websocket") == 15
    assert value(running, "qmtl_feed_dropped_total", feed="websocket") == 1
    assert value(running, "qmtl_feed_reconnects_total", feed="websocket") == 1
    assert value(running, "qmtl_feed_disconnects_total", feed="websocket") == 1
    assert value(stopped, "qmtl_feed_disconnects_total", feed="websocket") == 2
    assert value(running, "qmtl_feed_queue_depth", feed="websocket") == 0
    assert value(running, "qmtl_feed_lag_seconds_count", feed="websocket") == len(delivered)
    assert value(running, "qmtl_feed_lag_seconds_sum", feed="websocket") == pytest.approx(
        sum(e.data["lag"] for e in delivered)
    )
    assert all(0 <= e.data["lag"] < 5 for e in delivered)


def test_the_journal_and_the_budget_of_a_loaded_client_are_scraped_as_they_are(
    tmp_path: Path,
) -> None:
    """``load_connectors`` wires the gauges: the journal's unresolved entries and each
    pool's share of its current window, read from the stores at every scrape."""
    account = f"metrics-{tmp_path.name}"
    with BrokerServer(prices={SYMBOL: 50000}) as broker:
        connectors = load_connectors(
            {
                "connectors": {
                    "execution_domain": "live",
                    "state": f"sqlite:///{tmp_path}/state.db",
                    "metrics": {"port": 0},
                    "brokerage": {
                        "name": "http",
                        "url": broker.url,
                        "account": account,
                        "rate_limits": {"orders": "8/1d", "requests": "100/1d"},
                    },
                }
            }
        )
        client = connectors.brokerage
        exporter = connectors.metrics
        assert exporter is not None
        try:
            for _ in range(3):
                client.post_order(order())
            # An order journaled and not answered yet: in flight, unresolved.
            pending = validate_order(order(client_order_id="pending-1"))
            assert connectors.journal.claim(pending, connector=HTTP).fresh
            samples = scrape(exporter)
            assert value(samples, "qmtl_journal_unresolved") == 1
            used = "qmtl_rate_budget_used"
            assert value(samples, used, account=account, pool="orders") == 3 / 8
            assert value(samples, used, account=account, pool="requests") == 3 / 100

            connectors.journal.record("pending-1", EntryState.NOT_PLACED, reason="test")
            client.post_order(order(side="SELL"))
            samples = scrape(exporter)  # read again at every scrape
            assert value(samples, "qmtl_journal_unresolved") == 0
            assert value(samples, used, account=account, pool="orders") == 4 / 8
        finally:
            exporter.close()
            client.close()
            connectors.close()
