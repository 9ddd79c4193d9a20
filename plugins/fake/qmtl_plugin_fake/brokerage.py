"""FakeBrokerageClient: the paper engine behind the brokerage interface."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from qmtl_core.brokerage import BaseBrokerageClient, Capabilities, OcoSupport
from qmtl_core.journal import OrderJournal
from qmtl_core.orders import Order, OrderAck, OrderType
from qmtl_plugin_fake.config import FakeBrokerageConfig
from qmtl_plugin_fake.paper import PaperEngine

_ALL_TYPES = frozenset(OrderType)


class FakeBrokerageClient(BaseBrokerageClient):
    """An in-memory immediate-fill brokerage on a paper engine, for demos and dry runs.

    A market order fills at once at the symbol's last price; limit and stop orders rest
    until :meth:`update_price` crosses them. For a symbol whose price is not known yet
    every order fills at once: at the price the order gives (limit, else stop), else
    with ``average_price`` None and a ``reason`` saying the price is unknown; never a
    silent rejection.

    OCO is emulated inside the engine: a fill and the sibling's cancel happen under
    one lock, so both legs can never fill.

    Args:
        prices: initial last prices by symbol, e.g. ``{"BTC/USDT": 50000}``.
        futures: accept the futures-only order fields (``reduce_only`` ...).
        engine: share an existing :class:`PaperEngine` (``prices`` then update it).
        journal: the order journal (default: one in memory).

    Raises:
        OrderValidationError: from :meth:`post_order`, for an invalid order.
        OrderRejected: a ``client_order_id`` reused for a different order.
    """

    capabilities = Capabilities(OcoSupport.EMULATED, _ALL_TYPES)

    def __init__(
        self,
        prices: Mapping[str, Any] | None = None,
        *,
        futures: bool = False,
        engine: PaperEngine | None = None,
        journal: OrderJournal | None = None,
    ) -> None:
        super().__init__(journal=journal)
        self.engine = engine if engine is not None else PaperEngine(prices, fill_unpriced=True)
        if engine is not None and prices:
            for symbol, price in prices.items():
                self.engine.update_price(symbol, price)
        if futures:
            # Dry runs of futures strategies: accept the futures-only order fields.
            self.capabilities = Capabilities(OcoSupport.EMULATED, _ALL_TYPES, futures=True)

    def __repr__(self) -> str:
        prices = {symbol: str(price) for symbol, price in self.engine.prices().items()}
        return f"FakeBrokerageClient(prices={prices!r}, orders={len(self.orders())})"

    @classmethod
    def from_config(cls, config: FakeBrokerageConfig) -> FakeBrokerageClient:
        """The registry's factory: a client from its validated config."""
        return cls(config.prices, futures=config.futures)

    def update_price(self, symbol: str, price: Any) -> list[OrderAck]:
        """Move the market; returns the orders this price filled."""
        return self.engine.update_price(symbol, price)

    def last_price(self, symbol: str) -> Decimal | None:
        """The symbol's last price, None before any."""
        return self.engine.last_price(symbol)

    def orders(self) -> list[OrderAck]:
        """Every order the engine holds, in the order they were placed."""
        return self.engine.orders()

    def place_oco(self, first: Order, second: Order) -> tuple[OrderAck, OrderAck]:
        """Place two linked legs; when one fills, the engine cancels the other."""
        return self.engine.submit_oco(first, second)

    def _send(self, order: Order) -> OrderAck:
        return self.engine.submit(order)

    def _lookup(self, order: Order) -> OrderAck | None:
        return self.engine.find(order.client_order_id)

    def _fetch(self, ref: str) -> OrderAck:
        return self.engine.get(ref)

    def _cancel(self, ref: str) -> OrderAck:
        return self.engine.cancel(ref)
