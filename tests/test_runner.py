"""Runner: validation, activation gating and duplicate suppression before any service."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest

from qmtl_core import OrderAck, OrderStatus, Runner
from qmtl_core.errors import OrderRejected, OrderValidationError
from qmtl_core.orders import Order
from qmtl_plugin_fake.brokerage import FakeBrokerageClient

ORDER = {
    "symbol": "BTC/USDT",
    "side": "BUY",
    "type": "market",
    "quantity": 0.01,
    "timestamp": 1700000000,
}


class RecordingService:
    """A custom service (not a BaseBrokerageClient): suppression must still apply."""

    def __init__(self) -> None:
        self.received: list[Order] = []
        self.reject = False

    def post_order(self, order: Order) -> OrderAck:
        self.received.append(order)
        if self.reject:
            raise OrderRejected("nope")
        return OrderAck(f"S{len(self.received)}", order.client_order_id, OrderStatus.NEW)


def test_routes_validated_orders_to_the_service() -> None:
    broker = FakeBrokerageClient(prices={"BTC/USDT": 50000})
    Runner.set_trade_execution_service(broker)
    result = Runner.submit_order(ORDER)
    assert result.sent and result.ack is not None and result.ack.status is OrderStatus.FILLED
    assert len(broker.orders()) == 1


def test_invalid_orders_never_reach_the_service() -> None:
    service = RecordingService()
    Runner.set_trade_execution_service(service)
    with pytest.raises(OrderValidationError):
        Runner.submit_order({**ORDER, "quantity": -1})
    assert service.received == []


def test_gated_orders_are_skipped_not_sent() -> None:
    service = RecordingService()
    Runner.set_trade_execution_service(service)
    Runner.set_activation(False)
    assert Runner.submit_order(ORDER).outcome == "gated"
    Runner.set_activation(lambda order: order.side == "SELL")
    assert Runner.submit_order(ORDER).outcome == "gated"
    assert Runner.submit_order({**ORDER, "side": "SELL"}).outcome == "sent"
    assert [o.side for o in service.received] == ["SELL"]


def test_same_client_order_id_is_sent_once_with_a_custom_service() -> None:
    service = RecordingService()
    Runner.set_trade_execution_service(service)
    first = Runner.submit_order({**ORDER, "client_order_id": "c-1"})
    again = Runner.submit_order({**ORDER, "client_order_id": "c-1", "timestamp": 1800000000})
    assert first.outcome == "sent" and again.outcome == "duplicate"
    assert again.ack is not None and first.ack is not None
    assert again.ack.id == first.ack.id
    assert len(service.received) == 1


def test_same_content_within_ttl_is_sent_once() -> None:
    service = RecordingService()
    Runner.set_trade_execution_service(service)
    assert Runner.submit_order(ORDER).sent
    assert Runner.submit_order({**ORDER, "quantity": "0.010"}).outcome == "duplicate"
    assert Runner.submit_order({**ORDER, "timestamp": 1700000001}).sent
    Runner.set_duplicate_ttl(0.0)
    assert Runner.submit_order({**ORDER, "timestamp": 1700000002}).sent
    assert Runner.submit_order({**ORDER, "timestamp": 1700000002}).sent
    assert len(service.received) == 4


def test_a_rejected_order_may_be_sent_again() -> None:
    service = RecordingService()
    Runner.set_trade_execution_service(service)
    service.reject = True
    with pytest.raises(OrderRejected):
        Runner.submit_order({**ORDER, "client_order_id": "c-2"})
    service.reject = False
    assert Runner.submit_order({**ORDER, "client_order_id": "c-2"}).sent


def test_concurrent_duplicates_reach_the_service_once() -> None:
    service = RecordingService()
    Runner.set_trade_execution_service(service)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def submit() -> None:
        barrier.wait()
        outcomes.append(Runner.submit_order({**ORDER, "client_order_id": "same"}).outcome)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["duplicate"] * 7 + ["sent"]
    assert len(service.received) == 1


def test_requires_a_service_with_post_order() -> None:
    with pytest.raises(RuntimeError, match="set_trade_execution_service"):
        Runner.submit_order(ORDER)
    with pytest.raises(TypeError, match="post_order"):
        Runner.set_trade_execution_service(object())  # type: ignore[arg-type]


def test_futures_fields_follow_the_service_capabilities() -> None:
    Runner.set_trade_execution_service(FakeBrokerageClient(prices={"BTC/USDT": 1}))
    payload: dict[str, Any] = {**ORDER, "reduce_only": True}
    with pytest.raises(OrderValidationError, match="futures-only"):
        Runner.submit_order(payload)
    Runner.set_trade_execution_service(FakeBrokerageClient(prices={"BTC/USDT": 1}, futures=True))
    assert Runner.submit_order(payload).sent


class SeedStyleService:
    """A duck-typed service written for the seed's dict payloads: ``order["symbol"]``."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def post_order(self, order: Any) -> dict[str, Any]:
        self.seen.append(dict(order))
        return {
            "id": "S1",
            "client_order_id": order["client_order_id"],
            "status": "new",
            "symbol": order["symbol"],
            "limit": order.get("limit_price"),
            "has_tif": "time_in_force" in order,
        }


def test_a_service_written_for_dict_payloads_reads_the_order_by_key() -> None:
    service = SeedStyleService()
    Runner.set_trade_execution_service(service)
    result = Runner.submit_order(
        {**ORDER, "type": "limit", "limit_price": "49000", "client_order_id": "seed-1"}
    )
    assert result.sent
    assert service.seen[0]["symbol"] == "BTC/USDT" and service.seen[0]["side"] == "BUY"
    assert service.seen[0]["quantity"] == Decimal("0.01")
    assert "stop_price" not in service.seen[0]
