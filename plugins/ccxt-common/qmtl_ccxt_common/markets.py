"""An order, checked against the venue's market rules before anything is sent.

Quantity and price are rounded with the market's precision (ccxt ``amount_to_precision``
truncates, ``price_to_precision`` rounds to the tick), then the market's limits are
checked on the rounded values. A violation is an ``OrderValidationError`` quoting the
limit, so the caller fixes the order instead of reading a venue error code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import ccxt

from qmtl_core.errors import OrderValidationError
from qmtl_core.options import did_you_mean
from qmtl_core.orders import Order, OrderType, to_decimal


def market_for(exchange: Any, symbol: str) -> Mapping[str, Any]:
    """The loaded ccxt market for ``symbol``; an unknown symbol is a validation error."""
    try:
        market: Mapping[str, Any] = exchange.market(symbol)
    except ccxt.BadSymbol:
        hint = did_you_mean(symbol, list(exchange.symbols or ()))
        raise OrderValidationError(
            "symbol", symbol, f"not a market on {exchange.id}{hint}"
        ) from None
    if market.get("active") is False:
        raise OrderValidationError("symbol", symbol, f"market is not trading on {exchange.id}")
    return market


def conform(exchange: Any, order: Order) -> Order:
    """``order`` with quantity and price at the market's precision, limits checked."""
    market = market_for(exchange, order.symbol)
    where = f"for {market['symbol']} on {exchange.id}"
    quantity = _quantity(exchange, market, order.quantity, where)
    price = None
    if order.limit_price is not None:
        price = to_decimal(
            "limit_price", exchange.price_to_precision(market["symbol"], str(order.limit_price))
        )
    _check_limits(where, market, order, quantity, price)
    return replace(order, quantity=quantity, limit_price=price)


def _quantity(exchange: Any, market: Mapping[str, Any], value: Decimal, where: str) -> Decimal:
    try:
        return to_decimal("quantity", exchange.amount_to_precision(market["symbol"], str(value)))
    except ccxt.InvalidOrder:
        # ccxt refuses amounts that round to zero.
        step = (market.get("precision") or {}).get("amount")
        raise OrderValidationError(
            "quantity", str(value), f"rounds to 0 at the step size {_text(step)} {where}"
        ) from None


def _check_limits(
    where: str, market: Mapping[str, Any], order: Order, quantity: Decimal, price: Decimal | None
) -> None:
    limits: Mapping[str, Any] = market.get("limits") or {}
    ranges = [("quantity", quantity, limits.get("amount"), "")]
    if order.type is OrderType.MARKET:
        ranges.append(("quantity", quantity, limits.get("market"), " (market orders)"))
    if price is not None:
        ranges.append(("limit_price", price, limits.get("price"), ""))
        cost = quantity * price
        ranges.append(("quantity", cost, limits.get("cost"), " (order value, quantity x price)"))
    for name, value, bounds, what in ranges:
        low, high = _bound(bounds, "min"), _bound(bounds, "max")
        shown = str(quantity if name == "quantity" else price)
        if low is not None and value < low:
            raise OrderValidationError(
                name, shown, f"{_text(value)} is below the minimum {_text(low)}{what} {where}"
            )
        if high is not None and value > high:
            raise OrderValidationError(
                name, shown, f"{_text(value)} is above the maximum {_text(high)}{what} {where}"
            )


def _bound(bounds: Mapping[str, Any] | None, key: str) -> Decimal | None:
    value = (bounds or {}).get(key)
    # Binance reports "no limit" as 0 for some bounds (e.g. MARKET_LOT_SIZE minQty).
    if value is None or value == 0:
        return None
    return to_decimal(key, value)


def _text(value: Any) -> str:
    if isinstance(value, float):
        value = to_decimal("value", value)
    return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)
