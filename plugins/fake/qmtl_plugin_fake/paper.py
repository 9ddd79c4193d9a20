"""A small, thread-safe paper-trading engine.

It backs the ``fake`` brokerage and the HTTP reference broker server, so both behave
the same: market orders fill at the symbol's last price, limit and stop orders rest
until :meth:`PaperEngine.update_price` crosses them, and OCO legs are linked so that
both can never fill.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from qmtl_core import runtime
from qmtl_core.errors import OrderNotCancelable, OrderNotFound, OrderRejected
from qmtl_core.orders import (
    Order,
    OrderAck,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    to_decimal,
)


@dataclass
class _PaperOrder:
    id: str
    order: Order
    status: OrderStatus = OrderStatus.NEW
    filled_quantity: Decimal = Decimal(0)
    average_price: Decimal | None = None
    triggered: bool = False
    oco_with: str | None = None
    reason: str | None = None
    updated_at: float = 0.0

    def payload(self) -> dict[str, Any]:
        body = self.order.to_payload()
        body.update(
            id=self.id,
            status=self.status.value,
            filled_quantity=str(self.filled_quantity),
            average_price=None if self.average_price is None else str(self.average_price),
            updated_at=self.updated_at,
        )
        if self.oco_with:
            body["oco_with"] = self.oco_with
        if self.reason:
            body["reason"] = self.reason
        return body

    def ack(self) -> OrderAck:
        return OrderAck(
            id=self.id,
            client_order_id=self.order.client_order_id,
            status=self.status,
            symbol=self.order.symbol,
            filled_quantity=self.filled_quantity,
            average_price=self.average_price,
            raw=self.payload(),
        )


class PaperEngine:
    """Orders keyed by engine id and by ``client_order_id``; all methods thread-safe."""

    def __init__(
        self,
        prices: Mapping[str, Any] | None = None,
        *,
        id_prefix: str = "P",
        fill_unpriced: bool = False,
    ) -> None:
        """``prices``: initial last prices by symbol; ``id_prefix`` starts every engine id.

        With ``fill_unpriced`` an order for a symbol without a known price fills at once
        (the immediate-fill stub): at the price it gives (limit, else stop), else with its
        price unknown (``average_price`` None, the reason says why). Without it a market order
        is rejected and a limit or stop order rests until a price crosses it.
        """
        self._lock = threading.RLock()
        self._fill_unpriced = fill_unpriced
        self._prices: dict[str, Decimal] = {}
        self._orders: dict[str, _PaperOrder] = {}
        self._by_client_id: dict[str, str] = {}
        # Completed orders, oldest first: beyond ``runtime.MAX_COMPLETED_ORDERS`` they
        # are forgotten, so a week-long paper run stays bounded.
        self._completed: OrderedDict[str, None] = OrderedDict()
        self._ids = itertools.count(1)
        self._id_prefix = id_prefix
        for symbol, price in (prices or {}).items():
            self.update_price(symbol, price)

    # --- prices -------------------------------------------------------------------

    def last_price(self, symbol: str) -> Decimal | None:
        """The symbol's last price, None before any."""
        with self._lock:
            return self._prices.get(symbol)

    def prices(self) -> dict[str, Decimal]:
        """The last price of every symbol that has one."""
        with self._lock:
            return dict(self._prices)

    def update_price(self, symbol: str, price: Any) -> list[OrderAck]:
        """Set the last price and fill whatever it crosses; returns the orders that filled."""
        value = to_decimal("price", price)
        if value <= 0:
            raise OrderRejected(f"price for {symbol} must be > 0, got {price!r}")
        filled: list[OrderAck] = []
        with self._lock:
            self._prices[symbol] = value
            for entry in list(self._orders.values()):
                if entry.order.symbol == symbol and not entry.status.is_complete:
                    if self._try_fill(entry, value, resting=True):
                        filled.append(entry.ack())
        return filled

    # --- orders -------------------------------------------------------------------

    def submit(self, order: Order) -> OrderAck:
        """Accept an order; a repeated ``client_order_id`` returns the original order."""
        with self._lock:
            existing = self._existing(order)
            if existing is not None:
                return existing.ack()
            entry = self._new(order)
            self._activate(entry)
            return entry.ack()

    def submit_oco(self, first: Order, second: Order) -> tuple[OrderAck, OrderAck]:
        """Two linked legs: when one fills, the other is canceled in the same step."""
        if first.symbol != second.symbol:
            raise OrderRejected("OCO legs must trade the same symbol")
        with self._lock:
            a, b = self._existing(first), self._existing(second)
            if a is not None and b is not None:
                return a.ack(), b.ack()
            if a is not None or b is not None:
                raise OrderRejected("OCO leg client_order_id already used by another order")
            a, b = self._new(first), self._new(second)
            a.oco_with, b.oco_with = b.id, a.id
            self._activate(a)
            if not a.status.is_complete:
                self._activate(b)
            return a.ack(), b.ack()

    def get(self, ref: str) -> OrderAck:
        with self._lock:
            return self._entry(ref).ack()

    def find(self, client_order_id: str) -> OrderAck | None:
        with self._lock:
            order_id = self._by_client_id.get(client_order_id)
            return None if order_id is None else self._orders[order_id].ack()

    def cancel(self, ref: str) -> OrderAck:
        with self._lock:
            entry = self._entry(ref)
            if entry.status.is_complete:
                raise OrderNotCancelable(entry.id, entry.status.value, raw=entry.payload())
            self._set(entry, OrderStatus.CANCELED)
            return entry.ack()

    def orders(self) -> list[OrderAck]:
        with self._lock:
            return [entry.ack() for entry in self._orders.values()]

    # --- internals (lock held) ----------------------------------------------------

    def _existing(self, order: Order) -> _PaperOrder | None:
        order_id = self._by_client_id.get(order.client_order_id)
        if order_id is None:
            return None
        entry = self._orders[order_id]
        if entry.order != order:
            raise OrderRejected(
                f"client_order_id {order.client_order_id} was already used for a different order"
            )
        return entry

    def _new(self, order: Order) -> _PaperOrder:
        entry = _PaperOrder(
            f"{self._id_prefix}{next(self._ids):06d}", order, updated_at=time.time()
        )
        self._orders[entry.id] = entry
        self._by_client_id[order.client_order_id] = entry.id
        return entry

    def _entry(self, ref: str) -> _PaperOrder:
        entry = self._orders.get(ref) or self._orders.get(self._by_client_id.get(ref, ""))
        if entry is None:
            raise OrderNotFound(f"no order with id or client_order_id {ref!r}")
        return entry

    def _activate(self, entry: _PaperOrder) -> None:
        order = entry.order
        price = self._prices.get(order.symbol)
        if price is None and self._fill_unpriced:
            # The immediate-fill stub: at the order's own price, else at a price unknown.
            given = order.limit_price if order.limit_price is not None else order.stop_price
            if given is None:
                entry.reason = f"no price known for {order.symbol}: filled at an unknown price"
            self._fill(entry, given)
            return
        if order.type is OrderType.MARKET and price is None:
            entry.reason = f"no price known for {order.symbol}; cannot fill a market order"
            self._set(entry, OrderStatus.REJECTED)
            return
        filled = price is not None and self._try_fill(entry, price, resting=False)
        if not filled and order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            self._set(entry, OrderStatus.EXPIRED)

    def _try_fill(self, entry: _PaperOrder, price: Decimal, *, resting: bool) -> bool:
        order = entry.order
        buy = order.side is Side.BUY
        if order.type in (OrderType.STOP, OrderType.STOP_LIMIT) and not entry.triggered:
            assert order.stop_price is not None
            if not (price >= order.stop_price if buy else price <= order.stop_price):
                return False
            entry.triggered = True
        if order.type in (OrderType.MARKET, OrderType.STOP):
            return self._fill(entry, price)
        assert order.limit_price is not None
        limit = order.limit_price
        if not (price <= limit if buy else price >= limit):
            return False
        # A resting limit fills at its limit; a marketable one at the better market price.
        return self._fill(entry, limit if resting else price)

    def _fill(self, entry: _PaperOrder, price: Decimal | None) -> bool:
        entry.filled_quantity = entry.order.quantity
        entry.average_price = price
        self._set(entry, OrderStatus.FILLED)
        sibling = self._orders.get(entry.oco_with or "")
        if sibling is not None and not sibling.status.is_complete:
            sibling.reason = f"OCO: {entry.id} filled"
            self._set(sibling, OrderStatus.CANCELED)
        return True

    def _set(self, entry: _PaperOrder, status: OrderStatus) -> None:
        entry.status = status
        entry.updated_at = time.time()
        if status.is_complete:
            self._completed[entry.id] = None
            while len(self._completed) > runtime.MAX_COMPLETED_ORDERS:
                self._forget(self._completed.popitem(last=False)[0])

    def _forget(self, order_id: str) -> None:
        entry = self._orders.pop(order_id)
        coid = entry.order.client_order_id
        if self._by_client_id.get(coid) == order_id:
            del self._by_client_id[coid]
