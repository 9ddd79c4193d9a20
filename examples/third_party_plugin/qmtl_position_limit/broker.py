"""PositionLimitBrokerage: a risk check in front of any brokerage connector.

Worst-case exposure counts every open order as if it will fill, so no interleaving
of fills can take a position past its limit. Orders that would are refused before
they reach the inner connector.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from qmtl_core.brokerage import (
    BrokerageClient,
    Capabilities,
    OrderInput,
    OrderRefInput,
    SupportsLinkedOco,
)
from qmtl_core.errors import OrderValidationError
from qmtl_core.orders import Order, OrderAck, Side, to_decimal, validate_order
from qmtl_core.registry import create
from qmtl_position_limit.config import PositionLimitConfig


class PositionLimitBrokerage:
    """Wraps ``inner``; keeps each symbol's worst-case position within ``limits``."""

    def __init__(
        self,
        inner: str | BrokerageClient,
        limits: Mapping[str, Any],
        inner_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.inner: BrokerageClient = (
            create("brokerage", inner, **dict(inner_options or {}))
            if isinstance(inner, str)
            else inner
        )
        self.limits = {symbol: to_decimal(f"limits.{symbol}", v) for symbol, v in limits.items()}
        self._lock = threading.Lock()
        self._filled: dict[str, Decimal] = {}  # signed filled position per symbol
        self._open: dict[str, tuple[Order, Decimal]] = {}  # client id -> (order, filled so far)

    @classmethod
    def from_config(cls, config: PositionLimitConfig) -> PositionLimitBrokerage:
        """The registry's factory: the wrapper from its validated config."""
        return cls(config.inner, config.limits, config.inner_options)

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def __repr__(self) -> str:
        return f"PositionLimitBrokerage(inner={type(self.inner).__name__}, limits={self.limits})"

    def position(self, symbol: str) -> Decimal:
        with self._lock:
            return self._filled.get(symbol, Decimal(0))

    def post_order(self, order: OrderInput) -> OrderAck:
        caps = self.capabilities
        checked = validate_order(order, order_types=caps.order_types, futures=caps.futures)
        with self._lock:
            self._check(checked)
            self._open[checked.client_order_id] = (checked, Decimal(0))
        try:
            ack = self.inner.post_order(checked)
        except OrderValidationError:
            with self._lock:
                self._open.pop(checked.client_order_id, None)
            raise
        self._record(ack)
        return ack

    def poll_order_status(self, order: OrderRefInput) -> OrderAck:
        return self._record(self.inner.poll_order_status(order))

    def cancel_order(self, order_id: OrderRefInput) -> OrderAck:
        return self._record(self.inner.cancel_order(order_id))

    def place_oco(self, first: Order, second: Order) -> tuple[OrderAck, OrderAck]:
        # Only one leg can fill, so the pair is checked leg by leg.
        with self._lock:
            for leg in (first, second):
                self._check(leg)
            for leg in (first, second):
                self._open[leg.client_order_id] = (leg, Decimal(0))
        if not isinstance(self.inner, SupportsLinkedOco):
            raise TypeError(f"{type(self.inner).__name__} cannot link OCO legs")
        acks = self.inner.place_oco(first, second)
        for ack in acks:
            self._record(ack)
        return acks

    def _check(self, order: Order) -> None:
        limit = self.limits.get(order.symbol)
        if limit is None:
            raise OrderValidationError(
                "symbol", order.symbol, "no position limit configured; add it under 'limits'"
            )
        signed = order.quantity if order.side is Side.BUY else -order.quantity
        filled = self._filled.get(order.symbol, Decimal(0))
        pending = [
            (o.quantity - done) * (1 if o.side is Side.BUY else -1)
            for o, done in self._open.values()
            if o.symbol == order.symbol
        ]
        worst_long = (
            filled + sum((q for q in pending if q > 0), Decimal(0)) + max(signed, Decimal(0))
        )
        worst_short = (
            filled + sum((q for q in pending if q < 0), Decimal(0)) + min(signed, Decimal(0))
        )
        if worst_long > limit or -worst_short > limit:
            worst = worst_long if signed > 0 else worst_short
            raise OrderValidationError(
                "quantity",
                str(order.quantity),
                f"could take the {order.symbol} position to {worst}, past its limit of {limit}",
            )

    def _record(self, ack: OrderAck) -> OrderAck:
        """Move newly filled quantity from 'open' to 'filled'; forget completed orders."""
        with self._lock:
            entry = self._open.get(ack.client_order_id)
            if entry is None:
                return ack
            order, done = entry
            fresh = ack.filled_quantity - done
            sign = 1 if order.side is Side.BUY else -1
            self._filled[order.symbol] = self._filled.get(order.symbol, Decimal(0)) + sign * fresh
            if ack.is_complete:
                del self._open[ack.client_order_id]
            else:
                self._open[ack.client_order_id] = (order, ack.filled_quantity)
        return ack
