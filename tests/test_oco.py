"""OCOOrder on a connector without linked orders: the watcher cancels the sibling."""

from __future__ import annotations

import threading

import pytest

from qmtl_core import OCOOrder, OrderStatus
from qmtl_core.brokerage import Capabilities, OcoSupport
from qmtl_core.errors import OrderRejected
from qmtl_core.orders import Order, OrderAck, OrderType
from qmtl_plugin_fake.brokerage import FakeBrokerageClient

SYMBOL = "ETH/USDT"
TAKE_PROFIT = {
    "symbol": SYMBOL,
    "side": "SELL",
    "type": "limit",
    "quantity": 1,
    "limit_price": 2100,
}
STOP_LOSS = {"symbol": SYMBOL, "side": "SELL", "type": "stop", "quantity": 1, "stop_price": 1900}


class ManualBroker(FakeBrokerageClient):
    """The paper engine without engine-side linking, like a plain HTTP venue."""

    capabilities = Capabilities(OcoSupport.MANUAL, frozenset(OrderType))

    def __init__(self) -> None:
        super().__init__(prices={SYMBOL: 2000})
        self.fail_next_post = False

    def _send(self, order: Order) -> OrderAck:
        if self.fail_next_post:
            raise OrderRejected("venue says no")
        return super()._send(order)


def test_watcher_cancels_the_other_leg_after_a_fill() -> None:
    broker = ManualBroker()
    oco = OCOOrder(TAKE_PROFIT, STOP_LOSS, poll_interval=0.01)
    tp, sl = oco.execute(broker)
    assert tp.status is OrderStatus.NEW and sl.status is OrderStatus.NEW
    broker.update_price(SYMBOL, 2150)
    result = oco.wait(5)
    assert result.filled is not None and result.filled.id == tp.id
    assert result.canceled is not None and result.canceled.id == sl.id
    assert broker.poll_order_status(sl).status is OrderStatus.CANCELED
    broker.update_price(SYMBOL, 1800)  # the stop would have fired: it must stay cancelled
    assert broker.poll_order_status(sl).status is OrderStatus.CANCELED
    oco.stop()
    assert not any(t.name == "qmtl-oco-watch" and t.is_alive() for t in threading.enumerate())


def test_manual_check_without_a_watcher() -> None:
    broker = ManualBroker()
    oco = OCOOrder(TAKE_PROFIT, STOP_LOSS)
    tp, sl = oco.execute(broker, watch=False)
    assert oco.check() is None
    broker.update_price(SYMBOL, 1850)
    result = oco.check()
    assert result is not None and result.filled is not None and result.filled.id == sl.id
    assert result.canceled is not None and result.canceled.id == tp.id


def test_a_failed_second_leg_takes_the_first_back() -> None:
    broker = ManualBroker()
    oco = OCOOrder(TAKE_PROFIT, STOP_LOSS)
    original = broker._send
    calls = []

    def second_fails(order: Order) -> OrderAck:
        calls.append(order)
        if len(calls) == 2:
            raise OrderRejected("venue says no")
        return original(order)

    broker._send = second_fails  # type: ignore[method-assign]
    with pytest.raises(OrderRejected):
        oco.execute(broker)
    (first,) = [a for a in broker.orders() if a.client_order_id == calls[0].client_order_id]
    assert first.status is OrderStatus.CANCELED


def test_both_legs_are_validated_before_either_is_sent() -> None:
    broker = ManualBroker()
    with pytest.raises(ValueError, match="limit_price"):
        OCOOrder(TAKE_PROFIT, {**TAKE_PROFIT, "limit_price": None}).execute(broker)
    assert broker.orders() == []


def test_wait_times_out_when_nothing_fills() -> None:
    oco = OCOOrder(TAKE_PROFIT, STOP_LOSS, poll_interval=0.01)
    oco.execute(ManualBroker())
    with pytest.raises(TimeoutError):
        oco.wait(0.05)
    oco.stop()
