"""ccxt's unified order and balance structures in the core vocabulary.

ccxt reports ``open`` for both untouched and partly filled orders and ``closed`` for
filled ones; the core needs ``new``/``partially_filled``/``filled``. Unknown status
text is an error, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from qmtl_core.errors import VenueProtocolError
from qmtl_core.orders import OrderAck, OrderStatus, make_frozen, parse_status, venue_decimal

CCXT_STATUSES: Mapping[str, OrderStatus] = {
    "open": OrderStatus.NEW,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
    # A cancel request is pending: the order can still fill until the venue confirms.
    "canceling": OrderStatus.NEW,
}


def to_ack(
    order: Mapping[str, Any],
    *,
    symbol: str | None = None,
    client_order_id: str | None = None,
    default_status: OrderStatus | None = None,
) -> OrderAck:
    """An ack from a ccxt order; ``default_status`` covers create answers without a status.

    ``symbol`` and ``client_order_id`` are the caller's own when known: Binance answers a
    cancel with the *cancel request's* client id, not the order's.
    """
    order_id = order.get("id")
    if order_id is None or order_id == "":
        raise VenueProtocolError(f"venue answered without an order id: {order.get('info')!r}")
    raw_status = order.get("status")
    if raw_status is None and default_status is not None:
        status = default_status
    else:
        # ccxt's unified statuses are the table's keys: anything else is parsed.
        known = CCXT_STATUSES.get(raw_status) if type(raw_status) is str else None
        status = known or parse_status(raw_status, CCXT_STATUSES)
    filled = order.get("filled")
    if filled is None or (type(filled) is float and filled == 0):  # nothing filled yet
        filled = _ZERO
    else:
        filled = venue_decimal("filled", filled) or _ZERO
    if status is OrderStatus.NEW and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    average = order.get("average")
    return make_frozen(
        OrderAck,
        id=str(order_id),
        client_order_id=client_order_id or str(order.get("clientOrderId") or ""),
        status=status,
        symbol=symbol or order.get("symbol"),
        filled_quantity=filled,
        average_price=None if average is None else venue_decimal("average", average),
        raw=order,
    )


_ZERO = Decimal(0)


@dataclass(frozen=True)
class AssetBalance:
    """One asset of an account: available, locked in orders, and the sum."""

    asset: str
    free: Decimal
    used: Decimal
    total: Decimal


def to_balances(balance: Mapping[str, Any]) -> dict[str, AssetBalance]:
    """Assets with a non-zero balance, from ccxt's ``fetch_balance`` structure."""
    result: dict[str, AssetBalance] = {}
    for asset, total in (balance.get("total") or {}).items():
        entry = balance.get(asset) or {}
        amounts = [venue_decimal(k, entry.get(k)) or Decimal(0) for k in ("free", "used")]
        summed = venue_decimal("total", total) or Decimal(0)
        if summed or any(amounts):
            result[asset] = AssetBalance(asset, amounts[0], amounts[1], summed)
    return result
