"""The ``orders`` channel: the account's order updates, each one a brokerage ack.

ccxt.pro's real ``binance`` class subscribes to the stand-in's user-data stream
(``userDataStream.subscribe.signature``, signed with the keys) and the stand-in pushes
Binance's ``executionReport`` frames.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from qmtl_core.errors import ConfigError
from qmtl_core.orders import OrderStatus
from qmtl_core.testing import until
from qmtl_core.testing.scenarios import collect_messages as collector
from qmtl_core.testing.scenarios import run_with_deadline as run
from qmtl_plugin_ccxt_stream.testing import BinanceStandIn

from .conftest import API_KEY, SECRET, SYMBOL, make_feed

ORDER_KEYS = {"event", "exchange", "symbol", "timestamp", "id", "client_order_id"} | {
    "status",
    "filled_quantity",
    "average_price",
}


def test_order_updates_arrive_as_acks() -> None:
    received, on_message = collector()
    report = {"c": "paper-1", "i": 4242, "S": "BUY", "q": "0.002", "p": "30000.00"}

    async def scenario(venue: BinanceStandIn) -> None:
        feed = make_feed(venue, on_message, channels=["orders"], apiKey=API_KEY, secret=SECRET)
        async with feed:
            await until(lambda: venue.user_streams == 1, what="the user-data subscription")
            await venue.execution_report(SYMBOL, **report, x="NEW", X="NEW")
            await until(lambda: len(received) == 1, what="the new order")
            fee = {"x": "TRADE", "l": "0.001", "n": "0.000001", "N": "BTC"}
            fill = {"L": "30000.00", "z": "0.001", "Z": "30.0"}
            await venue.execution_report(SYMBOL, **report, **fee, **fill, X="PARTIALLY_FILLED")
            fill = {"L": "29999.00", "z": "0.002", "Z": "59.999"}
            await venue.execution_report(SYMBOL, **report, **fee, **fill, X="FILLED")
            await until(lambda: len(received) == 3, what="the two fills")

    with BinanceStandIn(api_key=API_KEY, secret=SECRET) as venue:
        run(scenario(venue))
    new, partial, filled = received
    assert set(new) == ORDER_KEYS
    assert (new["event"], new["exchange"], new["symbol"]) == ("order", "binance", SYMBOL)
    assert (new["id"], new["client_order_id"]) == ("4242", "paper-1")
    assert [m["status"] for m in received] == [
        OrderStatus.NEW,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
    ]
    assert partial["filled_quantity"] == Decimal("0.001")
    assert partial["average_price"] == Decimal("30000")
    assert filled["filled_quantity"] == Decimal("0.002")
    assert filled["average_price"] == Decimal("29999.5")
    assert isinstance(filled["timestamp"], int) and filled["timestamp"] >= new["timestamp"]


def test_the_orders_channel_needs_keys(venue: BinanceStandIn) -> None:
    _, on_message = collector()
    with pytest.raises(ConfigError) as caught:
        make_feed(venue, on_message, channels=["trades", "orders"])
    assert caught.value.key == "channels"
    assert "apiKey and secret" in str(caught.value)
