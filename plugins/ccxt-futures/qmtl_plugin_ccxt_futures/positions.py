"""Open futures positions in one shape, from ccxt's unified position structure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from qmtl_core.orders import venue_decimal


@dataclass(frozen=True)
class Position:
    """One open position; ``position_side`` is the venue's LONG/SHORT (hedge) or BOTH."""

    symbol: str
    side: str  # "long" or "short"
    position_side: str
    quantity: Decimal  # contracts, always > 0
    entry_price: Decimal | None
    mark_price: Decimal | None
    unrealized_pnl: Decimal | None
    liquidation_price: Decimal | None
    leverage: Decimal | None
    margin_mode: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


def to_positions(positions: list[Mapping[str, Any]]) -> list[Position]:
    """Positions with a non-zero size; flat ones are left out."""
    result = []
    for p in positions:
        quantity = venue_decimal("contracts", p.get("contracts")) or Decimal(0)
        if quantity == 0:
            continue
        info = p.get("info") or {}
        result.append(
            Position(
                symbol=str(p.get("symbol")),
                side=str(p.get("side")),
                position_side=str(info.get("positionSide") or "BOTH"),
                quantity=abs(quantity),
                entry_price=venue_decimal("entryPrice", p.get("entryPrice")),
                mark_price=venue_decimal("markPrice", p.get("markPrice")),
                unrealized_pnl=venue_decimal("unrealizedPnl", p.get("unrealizedPnl")),
                liquidation_price=venue_decimal("liquidationPrice", p.get("liquidationPrice")),
                leverage=venue_decimal("leverage", p.get("leverage")),
                margin_mode=p.get("marginMode"),
                raw=p,
            )
        )
    return result
