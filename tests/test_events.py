"""Event hooks: an observer plugin sees every event of a scripted session, in order."""

from __future__ import annotations

import asyncio
import logging

import pytest

from qmtl_core.errors import OrderNotCancelable, OrderStatusUnknown
from qmtl_core.events import OrderEvent
from qmtl_core.hookspecs import hookimpl
from qmtl_core.registry import default_registry
from qmtl_core.testing import EventRecorder
from qmtl_plugin_fake.brokerage import FakeBrokerageClient
from qmtl_plugin_fake.feed import FakeLiveDataFeed
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.server import BrokerServer


class Broken:
    @hookimpl
    def qmtl_order_event(self, event: OrderEvent) -> None:
        raise RuntimeError("observer bug")


def test_a_scripted_session_is_observed_in_order(qmtl_events: EventRecorder) -> None:
    broker = FakeBrokerageClient(prices={"BTC/USDT": 100})
    resting = broker.post_order(
        {
            "symbol": "BTC/USDT",
            "side": "BUY",
            "type": "limit",
            "quantity": 1,
            "limit_price": 90,
            "client_order_id": "s-1",
        }
    )
    broker.update_price("BTC/USDT", 89)
    broker.poll_order_status(resting)
    with pytest.raises(OrderNotCancelable):
        broker.cancel_order(resting)

    async def on_msg(evt: dict[str, object]) -> None:
        return None

    async def feed_session() -> None:
        feed = FakeLiveDataFeed(on_message=on_msg)
        await feed.start()
        await feed.stop()

    asyncio.run(feed_session())
    seen = [
        (e.kind, e.client_order_id if isinstance(e, OrderEvent) else e.feed)
        for e in qmtl_events.events
    ]
    assert seen == [
        ("validated", "s-1"),
        ("sent", "s-1"),
        ("acknowledged", "s-1"),
        ("status_changed", "s-1"),
        ("connected", "FakeLiveDataFeed"),
        ("disconnected", "FakeLiveDataFeed"),
    ]
    changed = qmtl_events.events[3]
    assert changed.data == {"id": resting.id, "previous": "new", "status": "filled"}


def test_a_failing_observer_never_disturbs_the_order(
    qmtl_events: EventRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    manager = default_registry().plugin_manager
    manager.register(Broken(), name="broken-observer")
    try:
        ack = FakeBrokerageClient(prices={"X": 1}).post_order(
            {"symbol": "X", "side": "BUY", "type": "market", "quantity": 1}
        )
    finally:
        manager.unregister(name="broken-observer")
    assert ack.status == "filled"
    assert [e.kind for e in qmtl_events.events] == ["validated", "sent", "acknowledged"]
    assert "observer bug" in caplog.text


def test_an_observer_that_names_its_kinds_hears_only_those() -> None:
    class Outcomes:
        qmtl_event_kinds = frozenset({"acknowledged"})

        def __init__(self) -> None:
            self.kinds: list[str] = []

        @hookimpl
        def qmtl_order_event(self, event: OrderEvent) -> None:
            self.kinds.append(event.kind)

    outcomes, everything = Outcomes(), EventRecorder()
    manager = default_registry().plugin_manager
    manager.register(outcomes, name="outcomes-only")
    manager.register(everything, name="everything")
    try:
        FakeBrokerageClient(prices={"BTC/USDT": 100}).post_order(
            {"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": 1}
        )
    finally:
        manager.unregister(name="outcomes-only")
        manager.unregister(name="everything")
    assert outcomes.kinds == ["acknowledged"]
    assert [e.kind for e in everything.order_events()] == ["validated", "sent", "acknowledged"]


def test_the_builtin_subscriber_logs_structured_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qmtl_core.events")
    FakeBrokerageClient(prices={"X": 1}).post_order(
        {"symbol": "X", "side": "SELL", "type": "market", "quantity": 1, "client_order_id": "log-1"}
    )
    lines = [r.getMessage() for r in caplog.records if r.name == "qmtl_core.events"]
    expected = "kind=validated connector=FakeBrokerageClient client_order_id=log-1 symbol='X'"
    assert lines[0] == f"order_event {expected}"
    assert any(
        line.startswith("order_event kind=acknowledged") and "status='filled'" in line
        for line in lines
    )


def test_log_lines_give_seconds_to_the_millisecond(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qmtl_core.events")
    default_registry().events.order("retried", "c", "coid-1", attempt=1, delay=0.10541159785651551)
    record = next(r for r in caplog.records if "coid-1" in r.getMessage())
    assert record.getMessage().endswith("attempt=1 delay=0.105")
    assert record.levelno == logging.WARNING  # a retry is worth a warning
    default_registry().events.feed("message_dropped", "f", reason="full")
    default_registry().events.feed("connected", "f")
    levels = {
        r.getMessage().split()[1]: r.levelno for r in caplog.records if "feed=f" in r.getMessage()
    }
    assert levels == {"kind=message_dropped": logging.WARNING, "kind=connected": logging.INFO}


def test_retries_and_unknown_outcomes_are_observed_over_http(qmtl_events: EventRecorder) -> None:
    order = {"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": "0.01"}
    with BrokerServer(prices={"BTC/USDT": 50000}) as server:
        client = HttpBrokerageClient(server.url, max_retries=2, backoff=0.01)
        server.faults.fail_next(1, 502, method="POST", accept=True)
        client.post_order({**order, "client_order_id": "h-1"})
        server.faults.fail_next(10, 503)  # every POST and every lookup fails
        with pytest.raises(OrderStatusUnknown):
            client.post_order({**order, "client_order_id": "h-2"})
    kinds = {
        coid: [e.kind for e in qmtl_events.events if getattr(e, "client_order_id", None) == coid]
        for coid in ("h-1", "h-2")
    }
    assert kinds["h-1"] == ["validated", "sent", "retried", "acknowledged"]
    assert kinds["h-2"] == ["validated", "sent", "retried", "retried", "unknown"]
    retried = next(e for e in qmtl_events.events if e.kind == "retried")
    assert "502" in retried.data["reason"] and retried.data["attempt"] == 1
    assert server.order_count == 1
