"""Recorded Binance USD-M futures, served like the spot recording it extends.

On top of the spot behaviour (orders, faults, signature checks) the venue keeps the
account's position mode, each symbol's margin type and leverage, and positions built
from fills, and it answers the way Binance does: "no need to change" for a setting
already in place, -1106 for ``reduceOnly`` in hedge mode, -4061 for a position side
that does not match the mode. Hosts: live, the retired testnet, and demo trading.

    with binance_usdm() as venue:
        ...
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from typing import Any

import responses

from qmtl_ccxt_common.recorded import (
    BinanceReplay,
    ReplayOrder,
    Route,
    SeenRequest,
    VenueAnswer,
    replaying,
)


class BinanceUsdmReplay(BinanceReplay):
    """Binance USD-M futures (``/fapi``), recorded."""

    recording = "binance_usdm"
    package = __name__
    hosts = ("fapi.binance.com", "testnet.binancefuture.com", "demo-fapi.binance.com")
    duplicate_error = "duplicateClientOrderId"
    prefix = "/fapi/v1"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Account settings as the venue holds them.
        self.dual_side = False
        self.margin_types: dict[str, str] = {}
        self.leverages: dict[str, int] = {}
        #: (symbol, position side) -> (signed amount, entry price)
        self.positions: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}

    def product_routes(self) -> list[Route]:
        return [
            ("POST", "/fapi/v1/positionSide/dual", True, self._position_mode),
            ("POST", "/fapi/v1/marginType", True, self._margin_type),
            ("POST", "/fapi/v1/leverage", True, self._leverage),
            ("GET", "/fapi/v3/positionRisk", True, self._position_risk),
            ("GET", "/fapi/v1/leverageBracket", True, lambda _: self.data["leverageBracket"]),
            ("GET", "/fapi/v3/account", True, lambda _: self.data["account"]),
        ]

    def leverage_of(self, symbol: str) -> int:
        return self.leverages.get(symbol, int(self.data["defaultLeverage"]))

    # --- account settings -------------------------------------------------------------

    def _has_position(self, symbol: str | None = None) -> bool:
        return any(amount for (s, _), (amount, _) in self.positions.items() if symbol in (None, s))

    def _position_mode(self, seen: SeenRequest) -> Any:
        wanted = seen.params["dualSidePosition"] == "true"
        if wanted == self.dual_side:
            raise VenueAnswer("noNeedToChangePositionSide")
        if self._has_position():
            raise VenueAnswer("positionModeLockedByPosition")
        self.dual_side = wanted
        return self.data["success"]

    def _margin_type(self, seen: SeenRequest) -> Any:
        symbol = self._symbol(seen.params.get("symbol"))
        wanted = seen.params["marginType"]
        if wanted == self.margin_types.get(symbol, "CROSSED"):
            raise VenueAnswer("noNeedToChangeMarginType")
        if self._has_position(symbol):
            raise VenueAnswer("marginTypeLockedByPosition")
        self.margin_types[symbol] = wanted
        return self.data["success"]

    def _leverage(self, seen: SeenRequest) -> Any:
        symbol = self._symbol(seen.params.get("symbol"))
        leverage = int(seen.params["leverage"])
        if not 1 <= leverage <= 125:
            raise VenueAnswer("invalidLeverage")
        self.leverages[symbol] = leverage
        return {**self.data["leverage"], "leverage": leverage, "symbol": symbol}

    # --- orders and positions ---------------------------------------------------------

    def _accept(self, order: ReplayOrder, params: Mapping[str, str]) -> None:
        side = params.get("positionSide")
        if self.dual_side:
            if "reduceOnly" in params:
                raise VenueAnswer("parameterNotRequired")
            if side not in ("LONG", "SHORT"):
                raise VenueAnswer("positionSideMismatch")
        elif side not in (None, "BOTH"):
            raise VenueAnswer("positionSideMismatch")
        order.position_side = side or "BOTH"
        order.reduce_only = params.get("reduceOnly") == "true"

    def _execute(self, order: ReplayOrder, quantity: Decimal, price: Decimal) -> None:
        super()._execute(order, quantity, price)
        key = (order.symbol, order.position_side)
        amount, entry = self.positions.get(key, (Decimal(0), Decimal(0)))
        change = quantity if order.side == "BUY" else -quantity
        grows = amount == 0 or (amount > 0) == (change > 0)
        if grows:
            entry = (abs(amount) * entry + quantity * price) / (abs(amount) + quantity)
        amount += change
        self.positions[key] = (amount, entry if amount else Decimal(0))

    def _position_risk(self, seen: SeenRequest) -> Any:
        template: dict[str, Any] = self.data["positionRiskTemplate"]
        rows = []
        for (symbol, side), (amount, entry) in self.positions.items():
            if not amount:
                continue
            mark = self.last_prices[symbol]
            values = {
                "symbol": symbol,
                "positionSide": side,
                "positionAmt": self.number(amount),
                "entryPrice": self.number(entry),
                "breakEvenPrice": self.number(entry),
                "markPrice": self.number(mark),
                "unRealizedProfit": self.number((mark - entry) * amount),
                "liquidationPrice": "0",
                "isolatedMargin": "0",
                "notional": self.number(mark * amount),
                "updateTime": self.now_ms(),
            }
            rows.append({key: values.get(key, example) for key, example in template.items()})
        return rows

    def fields(self, order: ReplayOrder) -> dict[str, Any]:
        return {
            "clientOrderId": order.client_order_id,
            "cumQty": self.number(order.executed),
            "cumQuote": self.number(order.quote),
            "executedQty": self.number(order.executed),
            "orderId": order.order_id,
            "avgPrice": self.number(order.average),
            "origQty": self.number(order.quantity),
            "price": self.number(order.price or Decimal(0)),
            "reduceOnly": order.reduce_only,
            "side": order.side,
            "positionSide": order.position_side,
            "status": order.status,
            "stopPrice": "0",
            "symbol": order.symbol,
            "time": order.created,
            "timeInForce": order.time_in_force or "GTC",
            "type": order.type,
            "origType": order.type,
            "updateTime": order.updated,
            "goodTillDate": 0,
        }

    @staticmethod
    def number(value: Decimal) -> str:
        """USD-M decimal text: as precise as the value, no exponent."""
        return format(value.normalize(), "f") if value else "0"


def binance_usdm(**options: Any) -> AbstractContextManager[BinanceUsdmReplay]:
    """``with binance_usdm() as venue:`` recorded USD-M futures on every USD-M host."""
    return replaying(BinanceUsdmReplay, **options)


@contextmanager
def binance_spot_and_usdm(**options: Any) -> Iterator[tuple[BinanceReplay, BinanceUsdmReplay]]:
    """Both recordings behind one mock, for code that trades spot and futures together.

    (Two separate ``responses`` mocks cannot be nested: the inner one would refuse the
    outer one's hosts.)
    """
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        spot, usdm = BinanceReplay(mock, **options), BinanceUsdmReplay(mock, **options)
        spot.install()
        usdm.install()
        yield spot, usdm
        missed = spot.unmatched()
        if missed:
            raise RuntimeError(f"requests outside the recordings (never sent): {missed}")
