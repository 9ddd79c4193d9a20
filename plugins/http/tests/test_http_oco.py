"""OCO on HTTP is manual: OCOOrder polls both legs and cancels the sibling over HTTP."""

from __future__ import annotations

from qmtl_core import OCOOrder, OrderStatus
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
