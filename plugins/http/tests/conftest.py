"""Fixtures: a real reference broker on a free loopback port and a real client for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qmtl_core import runtime
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.server import BrokerServer

SYMBOL = "BTC/USDT"
PRICE = 50000


def market(side: str = "BUY", quantity: str = "0.01", **extra: Any) -> dict[str, Any]:
    return {"symbol": SYMBOL, "side": side, "type": "market", "quantity": quantity, **extra}


def limit(side: str, price: float, quantity: str = "0.01", **extra: Any) -> dict[str, Any]:
    return {
        "symbol": SYMBOL,
        "side": side,
        "type": "limit",
        "quantity": quantity,
        "limit_price": price,
        **extra,
    }


@pytest.fixture
def broker() -> Iterator[BrokerServer]:
    with BrokerServer(prices={SYMBOL: PRICE}) as server:
        yield server


@pytest.fixture
def client(broker: BrokerServer) -> Iterator[HttpBrokerageClient]:
    with HttpBrokerageClient(broker.url, max_retries=3, backoff=0.01) as http_client:
        yield http_client


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    """Client timeout of 0.25 s, so stall faults cost little test time."""
    monkeypatch.setattr(runtime, "HTTP_TIMEOUT_SECONDS", 0.25)
    return 0.25
