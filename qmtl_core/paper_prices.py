"""Paper trading on live prices: a feed's market prices drive the dryrun brokerage.

In the ``dryrun`` domain, a configured feed registered with ``prices=True`` (its
messages carry market prices) is built as configured instead of the dryrun feed, and
:func:`driving_prices` puts the price of each message into the dryrun brokerage's
``update_price(symbol, price)`` before the strategy's ``on_message`` sees it. The
paper broker then fills resting orders when the live price crosses them; no order
leaves the process.

Which messages set a price (:func:`message_price`): ``event: trade`` with ``symbol``
and ``price``, and ``event: ticker`` with ``symbol`` and ``last`` (or, without
``last``, the midpoint of ``bid`` and ``ask``). A missing or unusable price (not a
positive finite number) sets nothing; every message still reaches the strategy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

#: The dryrun brokerage's price input: ``update_price(symbol, price)``.
UpdatePrice = Callable[[str, Decimal], object]
Handler = Callable[[dict[str, Any]], Awaitable[None]]


def _positive(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number > 0 else None


def message_price(message: Mapping[str, Any]) -> tuple[str, Decimal] | None:
    """``(symbol, price)`` of a trade or ticker message, None for any other message."""
    symbol, event = message.get("symbol"), message.get("event")
    if not isinstance(symbol, str) or not symbol:
        return None
    price: Decimal | None = None
    if event == "trade":
        price = _positive(message.get("price"))
    elif event == "ticker":
        price = _positive(message.get("last"))
        if price is None:
            bid, ask = _positive(message.get("bid")), _positive(message.get("ask"))
            price = (bid + ask) / 2 if bid is not None and ask is not None else None
    return (symbol, price) if price is not None else None


def driving_prices(update_price: UpdatePrice, on_message: Handler) -> Handler:
    """``on_message`` preceded by ``update_price`` for every message that carries a price."""

    async def priced_on_message(message: dict[str, Any]) -> None:
        priced = message_price(message)
        if priced is not None:
            update_price(*priced)
        await on_message(message)

    return priced_on_message
