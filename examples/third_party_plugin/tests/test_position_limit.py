"""The position-limit plugin, tested the way any third-party plugin would test itself:
with qmtl's conformance kit plus its own behaviour."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from qmtl_position_limit.broker import PositionLimitBrokerage

from qmtl_core import load_connectors
from qmtl_core.brokerage import BrokerageClient
from qmtl_core.errors import OrderValidationError
from qmtl_core.registry import default_registry
from qmtl_core.testing import AsyncTwinConformance, BrokerageConformance, BrokerageFault

SYMBOL = "BTC/USDT"


class WrappedPaperVenue:
    """The inner fake broker is the venue."""

    symbol = SYMBOL
    price = "50000"
    secrets: tuple[str, ...] = ()

    def __init__(self, broker: PositionLimitBrokerage) -> None:
        self.inner: Any = broker.inner

    def set_price(self, price: str) -> None:
        self.inner.update_price(self.symbol, price)

    def order_count(self) -> int:
        return len(self.inner.orders())

    def inject(self, fault: BrokerageFault, *, retry_after: float = 0.2) -> bool:
        return False


class TestPositionLimitConformance(BrokerageConformance):
    @pytest.fixture
    def brokerage(self) -> PositionLimitBrokerage:
        return PositionLimitBrokerage(
            "fake", limits={SYMBOL: 100}, inner_options={"prices": {SYMBOL: 50000}}
        )

    @pytest.fixture
    def venue(self, brokerage: PositionLimitBrokerage) -> WrappedPaperVenue:
        return WrappedPaperVenue(brokerage)


class TestPositionLimitAsyncTwin(AsyncTwinConformance):
    """A protocol-only client: its async twin runs each call in the bounded pool."""

    @pytest.fixture
    def blocking_brokerage(self) -> PositionLimitBrokerage:
        return PositionLimitBrokerage(
            "fake", limits={SYMBOL: 100}, inner_options={"prices": {SYMBOL: 50000}}
        )

    @pytest.fixture
    def venue(self, blocking_brokerage: PositionLimitBrokerage) -> WrappedPaperVenue:
        return WrappedPaperVenue(blocking_brokerage)


def buy(qty: str, **extra: Any) -> dict[str, Any]:
    return {"symbol": SYMBOL, "side": "BUY", "type": "market", "quantity": qty, **extra}


def test_refuses_an_order_that_could_breach_the_limit() -> None:
    broker = PositionLimitBrokerage("fake", {SYMBOL: "1"}, {"prices": {SYMBOL: 100}})
    broker.post_order(buy("0.6"))
    assert broker.position(SYMBOL) == Decimal("0.6")
    with pytest.raises(OrderValidationError, match=r"position to 1.3, past its limit of 1"):
        broker.post_order(buy("0.7"))
    assert len(broker.inner.orders()) == 1  # type: ignore[attr-defined]
    broker.post_order({**buy("1.6"), "side": "SELL"})
    assert broker.position(SYMBOL) == Decimal("-1.0")


def test_open_orders_count_as_if_filled() -> None:
    broker = PositionLimitBrokerage("fake", {SYMBOL: "1"}, {"prices": {SYMBOL: 100}})
    resting = broker.post_order({**buy("0.8"), "type": "limit", "limit_price": 50})
    with pytest.raises(OrderValidationError):
        broker.post_order(buy("0.3"))
    broker.cancel_order(resting)
    broker.post_order(buy("0.3"))
    assert broker.position(SYMBOL) == Decimal("0.3")


def test_symbols_without_a_limit_are_refused() -> None:
    broker = PositionLimitBrokerage("fake", {SYMBOL: 1}, {"prices": {"ETH/USDT": 1}})
    with pytest.raises(OrderValidationError, match="no position limit"):
        broker.post_order({**buy("1"), "symbol": "ETH/USDT"})


def test_listed_and_selectable_by_name_from_qmtl_yml(tmp_path: Path) -> None:
    spec = default_registry().get("brokerage", "position-limit")
    assert spec.distribution == "qmtl-plugin-position-limit"
    config = tmp_path / "qmtl.yml"
    config.write_text(
        "connectors:\n"
        "  execution_domain: live\n"
        "  brokerage:\n"
        "    name: position-limit\n"
        "    inner: fake\n"
        "    inner_options: {prices: {BTC/USDT: 100}}\n"
        "    limits: {BTC/USDT: 2}\n"
    )
    broker = load_connectors(config).brokerage
    assert isinstance(broker, PositionLimitBrokerage) and isinstance(broker, BrokerageClient)
    assert broker.post_order(buy("2"))["status"] == "filled"
    with pytest.raises(OrderValidationError):
        broker.post_order(buy("0.1"))
