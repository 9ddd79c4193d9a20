"""Which feed messages set the paper price in ``dryrun`` (qmtl_core.paper_prices)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from qmtl_core.paper_prices import message_price

BTC = "BTC/USDT"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"event": "trade", "symbol": BTC, "price": Decimal("30000.5")}, Decimal("30000.5")),
        ({"event": "ticker", "symbol": BTC, "last": "30001", "bid": 1, "ask": 2}, Decimal(30001)),
        ({"event": "ticker", "symbol": BTC, "last": None, "bid": 30000, "ask": 30002}, 30001),
        ({"event": "ticker", "symbol": BTC, "last": None, "bid": 30000, "ask": None}, None),
        ({"event": "order_book", "symbol": BTC, "bids": [[1, 1]], "asks": [[2, 1]]}, None),
        ({"event": "trade", "price": Decimal(1)}, None),  # no symbol
        ({"event": "trade", "symbol": BTC, "price": "abc"}, None),
        ({"event": "trade", "symbol": BTC, "price": 0}, None),
        ({"event": "trade", "symbol": BTC, "price": float("nan")}, None),
        ({"event": "trade", "symbol": BTC, "price": True}, None),
    ],
)
def test_trades_and_tickers_carry_a_price(message: dict[str, Any], expected: Any) -> None:
    priced = message_price(message)
    assert priced == (None if expected is None else (BTC, Decimal(expected)))
