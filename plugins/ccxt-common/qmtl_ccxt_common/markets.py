"""An order, checked against the venue's market rules before anything is sent.

Quantity and price are rounded with the market's precision (ccxt ``amount_to_precision``
truncates, ``price_to_precision`` rounds to the tick), then the market's limits are
checked on the rounded values. A violation is an ``OrderValidationError`` quoting the
limit, so the caller fixes the order instead of reading a venue error code.

A market's steps and limits are read once per loaded market (:func:`market_rules`): a
value already on its step is what ccxt's rounding would return, so only a value off
the step goes through ccxt's string helpers (which ccxt's ``create_order`` runs again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

import ccxt
from ccxt.base.decimal_to_precision import (
    DECIMAL_PLACES,
    NO_PADDING,
    TICK_SIZE,
    decimal_to_precision,
)

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
    rules = market_rules(exchange, market)
    quantity = order.quantity
    if not _on_step(quantity, rules.amount_step):
        quantity = _quantity(exchange, market, quantity)
    price = order.limit_price
    if price is not None and not _on_step(price, rules.price_step):
        price = _price(exchange, market, price)
    _check_limits(exchange, market, rules, order, quantity, price)
    if _same(quantity, order.quantity) and _same(price, order.limit_price):
        return order  # already at the market's precision, digit for digit
    return replace(order, quantity=quantity, limit_price=price)


def _on_step(value: Decimal, step: Decimal | None) -> bool:
    """True when ccxt's rounding to ``step`` returns ``value`` digit for digit: a multiple
    of the step written without an exponent or trailing fractional zeros (ccxt prints
    ``1E+1`` as ``10`` and drops the zero of ``0.10``)."""
    if step is None:
        return False
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or exponent > 0 or (exponent < 0 and digits[-1] == 0):
        return False
    try:
        return value % step == 0
    except InvalidOperation:  # more than 28 digits of steps: ccxt's helpers decide
        return False


def _same(a: Decimal | None, b: Decimal | None) -> bool:
    """Equal in value and in representation (``1.0`` is not ``1``)."""
    if a is None or b is None:
        return a is b
    return a.compare_total(b) == 0


def _where(exchange: Any, market: Mapping[str, Any]) -> str:
    return f"for {market['symbol']} on {exchange.id}"


def _quantity(exchange: Any, market: Mapping[str, Any], value: Decimal) -> Decimal:
    return _rounded(exchange, market, "quantity", value)


def _price(exchange: Any, market: Mapping[str, Any], value: Decimal) -> Decimal:
    return _rounded(exchange, market, "limit_price", value)


def _rounded(exchange: Any, market: Mapping[str, Any], name: str, value: Decimal) -> Decimal:
    """``value`` through ccxt's ``amount_to_precision`` (quantity) or ``price_to_precision``."""
    amount = name == "quantity"
    to_precision = exchange.amount_to_precision if amount else exchange.price_to_precision
    try:
        return to_decimal(name, to_precision(market["symbol"], str(value)))
    except ccxt.InvalidOrder:
        # ccxt refuses values that round to zero.
        step = (market.get("precision") or {}).get("amount" if amount else "price")
        raise OrderValidationError(
            name,
            str(value),
            f"rounds to 0 at the {'step' if amount else 'tick'} size {_text(step)} "
            f"{_where(exchange, market)}",
        ) from None


Bounds = tuple[Decimal | None, Decimal | None]
#: The limit kinds of a ccxt market.
LIMIT_KINDS = ("amount", "market", "price", "cost")


@dataclass(frozen=True)
class MarketRules:
    """One loaded market's precision and limits as decimals, read once (see
    :func:`market_rules`)."""

    #: The amount and price steps; None when ccxt's own helpers must round (the
    #: exchange rounds its own way, or counts significant digits, or pads).
    amount_step: Decimal | None
    price_step: Decimal | None
    #: (min, max) by limit kind (``LIMIT_KINDS``); None: no bound.
    bounds: dict[str, Bounds]

    def broken(
        self, order_type: OrderType, quantity: Decimal, price: Decimal | None
    ) -> tuple[str, Decimal, str, Decimal, str] | None:
        """The first limit the order breaks, as (field, value, "below the minimum" or
        "above the maximum", the limit, what the value is), or None."""
        bounds = self.bounds
        ranges = [("quantity", quantity, bounds["amount"], "")]
        if order_type is OrderType.MARKET:
            ranges.append(("quantity", quantity, bounds["market"], " (market orders)"))
        if price is not None:
            ranges.append(("limit_price", price, bounds["price"], ""))
            cost = quantity * price
            ranges.append(("quantity", cost, bounds["cost"], " (order value, quantity x price)"))
        for name, value, (low, high), what in ranges:
            if low is not None and value < low:
                return name, value, "below the minimum", low, what
            if high is not None and value > high:
                return name, value, "above the maximum", high, what
        return None


#: ccxt market (held, so its id is not reused) -> its rules.
_RULES: dict[int, tuple[Mapping[str, Any], MarketRules]] = {}
#: Markets whose rules are kept; beyond it (markets reloaded many times) start over.
_MAX_CACHED_MARKETS = 4096


def market_rules(exchange: Any, market: Mapping[str, Any]) -> MarketRules:
    """``market``'s steps and limits, read once per loaded market: they do not change
    until ccxt reloads markets, which builds new market objects."""
    cached = _RULES.get(id(market))
    if cached is not None and cached[0] is market:
        return cached[1]
    limits: Mapping[str, Any] = market.get("limits") or {}
    precision: Mapping[str, Any] = market.get("precision") or {}
    rules = MarketRules(
        amount_step=_step(exchange, precision.get("amount")),
        price_step=_step(exchange, precision.get("price")),
        bounds={
            kind: (_bound(limits.get(kind), "min"), _bound(limits.get(kind), "max"))
            for kind in LIMIT_KINDS
        },
    )
    if len(_RULES) >= _MAX_CACHED_MARKETS:
        _RULES.clear()
    _RULES[id(market)] = (market, rules)
    return rules


def _step(exchange: Any, precision: Any) -> Decimal | None:
    """The step ccxt's base ``amount_to_precision``/``price_to_precision`` round to, or
    None when they are overridden or do not round to a fixed step."""
    base = ccxt.Exchange
    cls = type(exchange)
    if (
        cls.amount_to_precision is not base.amount_to_precision
        or cls.price_to_precision is not base.price_to_precision
        or getattr(exchange, "decimal_to_precision", None) is not decimal_to_precision
        or exchange.paddingMode != NO_PADDING
        or isinstance(precision, bool)
        or not isinstance(precision, int | float | str)
    ):
        return None
    try:
        value = to_decimal("precision", precision)
    except OrderValidationError:
        return None
    if exchange.precisionMode == TICK_SIZE and value > 0:
        return value
    if exchange.precisionMode == DECIMAL_PLACES and value == value.to_integral_value():
        return Decimal(1).scaleb(-int(value))
    return None


def _check_limits(
    exchange: Any,
    market: Mapping[str, Any],
    rules: MarketRules,
    order: Order,
    quantity: Decimal,
    price: Decimal | None,
) -> None:
    broken = rules.broken(order.type, quantity, price)
    if broken is None:
        return
    name, value, side, limit, what = broken
    shown = str(quantity if name == "quantity" else price)
    raise OrderValidationError(
        name, shown, f"{_text(value)} is {side} {_text(limit)}{what} {_where(exchange, market)}"
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
