"""``stream_orders``: a ccxt brokerage that follows Binance's user-data stream.

REST goes to the recorded Binance venue (``qmtl_ccxt_common.recorded``), the user-data
stream to the loopback stand-in, which ccxt.pro's real ``binance`` class subscribes to
with ``userDataStream.subscribe.signature``; a fill is applied to the recorded venue and
its execution report pushed by the stand-in, as Binance does both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from qmtl_ccxt_common.recorded import OFFLINE_API_KEY, OFFLINE_SECRET, BinanceReplay, binance_spot
from qmtl_core.errors import ConfigError
from qmtl_core.oco import OCOOrder
from qmtl_core.orders import OrderStatus
from qmtl_core.testing import wait_until
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient
from qmtl_plugin_ccxt_stream.testing import BinanceStandIn

SYMBOL = "BTC/USDT"


@pytest.fixture
def venues() -> Iterator[tuple[BinanceReplay, BinanceStandIn]]:
    with (
        binance_spot() as rest,
        BinanceStandIn(api_key=OFFLINE_API_KEY, secret=OFFLINE_SECRET) as ws,
    ):
        yield rest, ws


@pytest.fixture
def client(venues: tuple[BinanceReplay, BinanceStandIn]) -> Iterator[CcxtBrokerageClient]:
    _, ws = venues
    client = CcxtBrokerageClient(
        "binance",
        apiKey=OFFLINE_API_KEY,
        secret=OFFLINE_SECRET,
        stream_orders=True,
        urls=ws.ws_urls(),
    )
    try:
        stream = client.order_stream
        assert stream is not None
        wait_until(lambda: stream.current, timeout=10, what="order stream subscribed")
        yield client
    finally:
        client.close()


def limit(side: str, price: str, quantity: str = "0.001") -> dict[str, object]:
    return {
        "symbol": SYMBOL,
        "side": side,
        "type": "limit",
        "quantity": quantity,
        "limit_price": price,
    }


def push(ws: BinanceStandIn, rest: BinanceReplay, coid: str) -> None:
    asyncio.run(ws.report_order(rest.order(coid)))


def test_polls_are_answered_from_the_pushed_fill(
    venues: tuple[BinanceReplay, BinanceStandIn], client: CcxtBrokerageClient
) -> None:
    rest, ws = venues
    assert ws.user_streams == 1
    ack = client.post_order(limit("BUY", "25000"))
    assert client.poll_order_status(ack).status is OrderStatus.NEW
    rest.fill(ack.client_order_id, price="25000")
    push(ws, rest, ack.client_order_id)
    wait_until(
        lambda: client.poll_order_status(ack).status is OrderStatus.FILLED, what="pushed fill"
    )
    polled = client.poll_order_status(ack)
    assert polled.filled_quantity == Decimal("0.001") and polled.average_price == Decimal("25000")
    assert rest.sent("GET", "order") == []  # no poll reached the venue


def test_after_a_reconnect_the_client_catches_up_before_trusting_the_stream(
    venues: tuple[BinanceReplay, BinanceStandIn], client: CcxtBrokerageClient
) -> None:
    rest, ws = venues
    stream = client.order_stream
    assert stream is not None
    ack = client.post_order(limit("BUY", "25000"))
    rest.fill(ack.client_order_id)  # its report is lost with the connection:
    asyncio.run(ws.drop())
    wait_until(lambda: stream.current and stream.catch_ups == 2, timeout=10, what="caught up")
    assert client.poll_order_status(ack).status is OrderStatus.FILLED
    assert len(rest.sent("GET", "order")) == 1  # fetched once, during the catch-up


def test_oco_sibling_is_canceled_when_the_fill_is_pushed_not_at_the_next_poll(
    venues: tuple[BinanceReplay, BinanceStandIn], client: CcxtBrokerageClient
) -> None:
    rest, ws = venues
    oco = OCOOrder(limit("SELL", "40000"), limit("SELL", "20000.01"), poll_interval=60)
    take_profit, _ = oco.execute(client)
    try:
        rest.fill(take_profit.client_order_id)
        started = time.monotonic()
        push(ws, rest, take_profit.client_order_id)
        result = oco.wait(timeout=20)
        reaction = time.monotonic() - started
    finally:
        oco.stop()
    assert result.filled is not None and result.filled.id == take_profit.id
    assert result.canceled is not None and result.canceled.status is OrderStatus.CANCELED
    assert reaction < 10  # far below the 60 s poll interval: the push woke the watcher
    assert len(rest.sent("DELETE", "order")) == 1


def test_stream_orders_needs_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        CcxtBrokerageClient("binance", stream_orders=True)
    assert caught.value.key == "stream_orders"
