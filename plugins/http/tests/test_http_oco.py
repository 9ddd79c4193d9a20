"""OCO on HTTP is manual: OCOOrder polls both legs and cancels the sibling over HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

from qmtl_core import OCOOrder, OrderStatus
from qmtl_core.aio import AsyncBrokerage
from qmtl_core.brokerage import PushesOrderUpdates
from qmtl_core.orders import OrderAck
from qmtl_core.testing import until
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.server import BrokerServer

from .conftest import SYMBOL, market


def legs() -> tuple[dict[str, object], dict[str, object]]:
    take_profit = {
        "symbol": SYMBOL,
        "side": "SELL",
        "type": "limit",
        "quantity": "0.01",
        "limit_price": 52000,
    }
    stop_loss = {
        "symbol": SYMBOL,
        "side": "SELL",
        "type": "stop",
        "quantity": "0.01",
        "stop_price": 48000,
    }
    return take_profit, stop_loss


def test_take_profit_fill_cancels_the_stop_loss(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    client.post_order(market())
    pair = OCOOrder(*legs(), poll_interval=0.02)
    tp, sl = pair.execute(client)
    assert (tp.status, sl.status) == (OrderStatus.NEW, OrderStatus.NEW)
    broker.set_price(SYMBOL, 52500)
    result = pair.wait(timeout=10)
    assert result.filled is not None and result.filled.id == tp.id
    assert result.canceled is not None and result.canceled.id == sl.id
    assert not result.both_filled
    assert broker.engine.get(sl.id).status is OrderStatus.CANCELED
    assert len(broker.seen("DELETE")) == 1


def test_stop_loss_fill_cancels_the_take_profit_despite_a_lost_answer(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    pair = OCOOrder(*legs(), poll_interval=0.02)
    tp, sl = pair.execute(client, watch=False)
    broker.set_price(SYMBOL, 47000)
    broker.faults.reset_next(1, method="DELETE")
    result = pair.wait(timeout=10)
    assert result.filled is not None and result.filled.id == sl.id
    assert broker.engine.get(tp.id).status is OrderStatus.CANCELED
    assert broker.order_count == 2


class PushingClient(HttpBrokerageClient):
    """An HTTP client with a stand-in order stream: the test pushes "news" of an order."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.pushed = threading.Event()

    def wait_for_order_update(self, orders: Sequence[OrderAck], timeout: float) -> bool:
        woke = self.pushed.wait(timeout)
        self.pushed.clear()
        return woke


def test_an_async_oco_is_woken_by_a_pushed_update_not_the_next_poll(
    broker: BrokerServer,
) -> None:
    client = PushingClient(broker.url)
    assert isinstance(client, PushesOrderUpdates)
    client.post_order(market())

    async def scenario() -> float:
        pair = OCOOrder(*legs(), poll_interval=60)
        tp, _ = await pair.execute_async(AsyncBrokerage(client))
        await until(lambda: len(broker.seen("GET")) >= 2, what="the first check of both legs")
        broker.set_price(SYMBOL, 52500)  # the take-profit fills at the broker
        started = time.monotonic()
        client.pushed.set()  # ... and the venue's stream says so
        result = await pair.wait_async(20)
        assert result.filled is not None and result.filled.id == tp.id
        return time.monotonic() - started

    reaction = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert reaction < 10  # far below the 60 s poll interval: the push woke the watcher
    assert len(broker.seen("DELETE")) == 1
