"""FakeBrokerageClient: a paper engine, not an echo."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from qmtl_core import OCOOrder, OrderNotCancelable, OrderNotFound, OrderStatus
from qmtl_core.brokerage import BrokerageClient, OcoSupport
from qmtl_core.errors import OrderRejected, OrderValidationError
from qmtl_plugin_fake.brokerage import FakeBrokerageClient
from qmtl_plugin_fake.feed import FakeLiveDataFeed

SYMBOL = "BTC/USDT"


def market(side: str = "BUY", qty: str = "0.01", **extra: object) -> dict[str, object]:
    return {"symbol": SYMBOL, "side": side, "type": "market", "quantity": qty, **extra}


def test_market_order_fills_at_the_last_price() -> None:
    broker = FakeBrokerageClient(prices={SYMBOL: 50000})
    assert isinstance(broker, BrokerageClient)
    ack = broker.post_order(market())
    assert ack["status"] == OrderStatus.FILLED
    assert ack["average_price"] == Decimal(50000) and ack["filled_quantity"] == Decimal("0.01")
    broker.update_price(SYMBOL, "50100.5")
    assert broker.post_order(market("SELL"))["average_price"] == Decimal("50100.5")


def test_market_order_without_a_price_fills_at_once_with_the_price_unknown() -> None:
    # The seed's "in-memory immediate-fill stub": never a silent rejection.
    broker = FakeBrokerageClient()
    ack = broker.post_order(market())
    assert ack.status is OrderStatus.FILLED and ack.filled_quantity == Decimal("0.01")
    assert ack.average_price is None
    assert "no price known for BTC/USDT" in ack.raw["reason"]
    assert "filled at an unknown price" in ack.raw["reason"]


def test_without_a_price_an_order_fills_at_the_price_it_gives() -> None:
    broker = FakeBrokerageClient()
    limit = broker.post_order({**market(), "type": "limit", "limit_price": "49000"})
    assert limit.status is OrderStatus.FILLED and limit.average_price == Decimal(49000)
    assert "reason" not in limit.raw
    stop = broker.post_order({**market("SELL"), "type": "stop", "stop_price": "48000"})
    assert stop.status is OrderStatus.FILLED and stop.average_price == Decimal(48000)
    # Once a price is known the engine is a paper market again: limits rest.
    broker.update_price(SYMBOL, 50000)
    resting = broker.post_order({**market(), "type": "limit", "limit_price": "49000"})
    assert resting.status is OrderStatus.NEW


def test_the_fake_clients_say_what_they_hold_in_their_repr() -> None:
    broker = FakeBrokerageClient(prices={SYMBOL: 50000})
    broker.post_order(market())
    assert repr(broker) == "FakeBrokerageClient(prices={'BTC/USDT': '50000'}, orders=1)"

    async def on_message(message: dict[str, object]) -> None:
        return None

    assert repr(FakeLiveDataFeed(on_message)) == "FakeLiveDataFeed(stopped, delivered=0)"


def test_limit_rests_until_the_price_crosses_it() -> None:
    broker = FakeBrokerageClient(prices={SYMBOL: 50000})
    ack = broker.post_order({**market(), "type": "limit", "limit_price": 49000})
    assert ack.status is OrderStatus.NEW
    assert broker.update_price(SYMBOL, 49500) == []
    assert broker.poll_order_status(ack).status is OrderStatus.NEW
    filled = broker.update_price(SYMBOL, 48900)
    assert [a.id for a in filled] == [ack.id]
    final = broker.poll_order_status(ack["id"])
    assert final.status is OrderStatus.FILLED and final.average_price == Decimal(49000)


def test_marketable_limit_fills_at_the_better_market_price() -> None:
    broker = FakeBrokerageClient(prices={SYMBOL: 50000})
    ack = broker.post_order({**market(), "type": "limit", "limit_price": 51000})
    assert ack.status is OrderStatus.FILLED and ack.average_price == Decimal(50000)


def test_stop_triggers_when_crossed() -> None:
    broker = FakeBrokerageClient(prices={SYMBOL: 50000})
    stop = broker.post_order({**market("SELL"), "type": "stop", "stop_price": 49000})
    broker.update_price(SYMBOL, 49100)
    assert broker.poll_order_status(stop).status is OrderStatus.NEW
    broker.update_price(SYMBOL, 48800)
    done = broker.poll_order_status({"id": stop.id})
    assert done.status is OrderStatus.FILLED and done.average_price == Decimal(48800)


def test_ioc_that_cannot_fill_expires() -> None:
    broker = FakeBrokerageClient(prices={SYMBOL: 50000})
    ack = broker.post_order({**market(), "type": "limit", "limit_price": 1, "time_in_force": "IOC"})
    assert ack.status is OrderStatus.EXPIRED


def test_cancel_and_cancel_after_fill() -> None:
    broker = FakeBrokerageClient(prices={SYMBOL: 50000})
    resting = broker.post_order({**market(), "type": "limit", "limit_price": 1000})
    assert broker.cancel_order(resting.id).status is OrderStatus.CANCELED
    filled = broker.post_order(market())
    with pytest.raises(OrderNotCancelable, match="already filled"):
        broker.cancel_order(filled.id)
    with pytest.raises(OrderNotFound):
        broker.poll_order_status("nope")


def test_same_client_order_id_is_one_order() -> None:
    broker = FakeBrokerageClient(prices={SYMBOL: 50000})
    first = broker.post_order(market(client_order_id="abc-1"))
    again = broker.post_order(market(client_order_id="abc-1"))
    assert again.id == first.id and len(broker.orders()) == 1
    with pytest.raises(OrderRejected, match="different order"):
        broker.post_order(market(qty="2", client_order_id="abc-1"))
    assert broker.poll_order_status("abc-1").id == first.id


def test_validation_happens_before_the_engine_sees_anything() -> None:
    broker = FakeBrokerageClient(prices={SYMBOL: 50000})
    with pytest.raises(OrderValidationError):
        broker.post_order(market(qty=0))
    with pytest.raises(OrderValidationError, match="futures-only"):
        broker.post_order(market(reduce_only=True))
    assert broker.orders() == []
    futures = FakeBrokerageClient(prices={SYMBOL: 50000}, futures=True)
    assert futures.post_order(market(position_side="LONG")).status is OrderStatus.FILLED


def test_concurrent_posts_are_all_accounted_for() -> None:
    broker = FakeBrokerageClient(prices={SYMBOL: 50000})
    ids: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            ack = broker.post_order(market())
            with lock:
                ids.append(ack.id)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == len(set(ids)) == 400
    assert len(broker.orders()) == 400


def test_emulated_oco_can_never_fill_both_legs() -> None:
    broker = FakeBrokerageClient(prices={SYMBOL: 50000})
    assert broker.capabilities.oco is OcoSupport.EMULATED
    pairs = []
    for _ in range(50):
        oco = OCOOrder(
            {**market("SELL"), "type": "limit", "limit_price": 50500},
            {**market("SELL"), "type": "stop", "stop_price": 49500},
        )
        oco.execute(broker, watch=False)
        pairs.append(oco)

    # Two threads whip the price through both legs' triggers at once.
    def whip(price: int) -> None:
        for _ in range(200):
            broker.update_price(SYMBOL, price)

    threads = [threading.Thread(target=whip, args=(p,)) for p in (51000, 49000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for oco in pairs:
        result = oco.wait(2)
        assert not result.both_filled
        assert result.filled is not None and result.canceled is not None
        assert result.canceled.raw["reason"].startswith("OCO:")
