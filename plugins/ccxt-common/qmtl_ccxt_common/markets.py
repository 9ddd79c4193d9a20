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
    quantity = _quantity(exchange, market, order.quantity)
    price = None
    if order.limit_price is not None:
        price = to_decimal(
            "limit_price", exchange.price_to_precision(market["symbol"], str(order.limit_price))
        )
    _check_limits(exchange, market, order, quantity, price)
    if _same(quantity, order.quantity) and _same(price, order.limit_price):
        return order  # already at the market's precision, digit for digit
    return replace(order, quantity=quantity, limit_price=price)


def _same(a: Decimal | None, b: Decimal | None) -> bool:
    """Equal in value and in representation (``1.0`` is not ``1``)."""
    if a is None or b is None:
        return a is b
    return a.compare_total(b) == 0


def _where(exchange: Any, market: Mapping[str, Any]) -> str:
    return f"for {market['symbol']} on {exchange.id}"


def _quantity(exchange: Any, market: Mapping[str, Any], value: Decimal) -> Decimal:
    try:
        return to_decimal("quantity", exchange.amount_to_precision(market["symbol"], str(value)))
    except ccxt.InvalidOrder:
        # ccxt refuses amounts that round to zero.
        step = (market.get("precision") or {}).get("amount")
        raise OrderValidationError(
            "quantity",
            str(value),
            f"rounds to 0 at the step size {_text(step)} {_where(exchange, market)}",
        ) from None


Bounds = tuple[Decimal | None, Decimal | None]
#: ccxt market (held, so its id is not reused) -> its limits as decimals, by kind.
_BOUNDS: dict[int, tuple[Mapping[str, Any], dict[str, Bounds]]] = {}
#: Markets whose bounds are kept; beyond it (markets reloaded many times) start over.
_MAX_CACHED_MARKETS = 4096


def market_bounds(market: Mapping[str, Any]) -> dict[str, Bounds]:
    """(min, max) of ``amount``, ``market``, ``price`` and ``cost`` as decimals (None: no
    bound), read once per loaded market: the market's limits do not change until ccxt
    reloads markets, which builds new market objects."""
    cached = _BOUNDS.get(id(market))
    if cached is not None and cached[0] is market:
        return cached[1]
    limits: Mapping[str, Any] = market.get("limits") or {}
    bounds = {
        kind: (_bound(limits.get(kind), "min"), _bound(limits.get(kind), "max"))
        for kind in ("amount", "market", "price", "cost")
    }
    if len(_BOUNDS) >= _MAX_CACHED_MARKETS:
        _BOUNDS.clear()
    _BOUNDS[id(market)] = (market, bounds)
    return bounds


def _check_limits(
    exchange: Any,
    market: Mapping[str, Any],
    order: Order,
    quantity: Decimal,
    price: Decimal | None,
) -> None:
    bounds = market_bounds(market)
    ranges = [("quantity", quantity, bounds["amount"], "")]
    if order.type is OrderType.MARKET:
        ranges.append(("quantity", quantity, bounds["market"], " (market orders)"))
    if price is not None:
        ranges.append(("limit_price", price, bounds["price"], ""))
        cost = quantity * price
        ranges.append(("quantity", cost, bounds["cost"], " (order value, quantity x price)"))
    for name, value, (low, high), what in ranges:
        if low is not None and value < low:
            side, limit = "below the minimum", low
        elif high is not None and value > high:
            side, limit = "above the maximum", high
        else:
            continue
        shown = str(quantity if name == "quantity" else price)
        raise OrderValidationError(
            name,
            shown,
            f"{_text(value)} is {side} {_text(limit)}{what} {_where(exchange, market)}",
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
