"""FuturesCcxtBrokerageClient: USD-margined futures on ccxt, built on the shared ccxt client.

``qmtl-plugin-ccxt-futures`` declares ``qmtl-ccxt-common`` as a dependency and
subclasses its client: error classification, status mapping, precision and limit
checks, client-id lookup and environment selection are shared, not copied. What is
added here is futures account state (position mode, margin mode, leverage) and the
futures order fields (``position_side``, ``reduce_only``, per-order ``leverage``).
"""

from __future__ import annotations

import logging
from typing import Any

from qmtl_ccxt_common.client import CcxtClient, ccxt_call
from qmtl_ccxt_common.config import CcxtConfig
from qmtl_ccxt_common.errors import venue_code
from qmtl_ccxt_common.products import FUTURES
from qmtl_core.brokerage import Capabilities, OcoSupport, OrderInput
from qmtl_core.errors import OrderRejected, OrderValidationError
from qmtl_core.journal import OrderJournal
from qmtl_core.orders import SPOT_ORDER_TYPES, Order, OrderAck, PositionSide, Side
from qmtl_core.steps import Plan
from qmtl_plugin_ccxt_futures.config import CcxtFuturesConfig
from qmtl_plugin_ccxt_futures.positions import Position, to_positions

log = logging.getLogger(__name__)

#: Venue answers meaning "that setting is already in place": success, not failure
#: (Binance -4059 "No need to change position side", -4046 "... margin type").
ALREADY_SET_CODES = frozenset({"-4059", "-4046"})
ALREADY_SET_ERRORS = frozenset({"NoChange", "MarginModeAlreadySet"})
#: The exchange without one given: Binance USD-M futures, as upstream QMTL defaults.
DEFAULT_EXCHANGE = "binanceusdm"


class FuturesCcxtBrokerageClient(CcxtClient):
    """``FuturesCcxtBrokerageClient("binanceusdm", symbol=..., leverage=5, margin_mode="cross",
    hedge_mode=True, apiKey=..., secret=..., sandbox=True)``.

    Before a symbol's first order the client sets the position mode (once, if
    ``hedge_mode`` is given), the symbol's margin mode and its leverage; a venue
    answer that the setting is already in place counts as success, a real failure is
    raised and tried again on the next order. An order's own ``leverage`` is applied
    before it; orders without one trade at the client's ``leverage``.

    On Binance USD-M ``sandbox=True`` means demo trading (the futures testnet is gone).
    """

    capabilities = Capabilities(OcoSupport.MANUAL, SPOT_ORDER_TYPES, futures=True)
    config_class = CcxtFuturesConfig
    product = FUTURES

    def __init__(
        self,
        exchange: str | Any = DEFAULT_EXCHANGE,
        *,
        journal: OrderJournal | None = None,
        **options: Any,
    ) -> None:
        """``exchange``: a ccxt exchange id (default ``binanceusdm``, as upstream) or a ready
        synchronous ccxt exchange; ``options``: the ``ccxt-futures`` config keys.

        Raises:
            ConfigError: an unknown exchange id or option, or a bad option value.
        """
        super().__init__(exchange, journal=journal, **options)

    def _configure(
        self, config: CcxtConfig, instance: Any, *, journal: OrderJournal | None = None
    ) -> None:
        assert isinstance(config, CcxtFuturesConfig)
        self.symbol: str | None = config.symbol
        self.leverage: int | None = config.leverage
        self.margin_mode: str | None = config.margin_mode
        self.hedge_mode: bool | None = config.hedge_mode
        super()._configure(config, instance, journal=journal)
        self._position_mode_done = False
        self._margin_mode_done: set[str] = set()
        self._leverage_now: dict[str, int] = {}

    def default_symbol(self) -> str | None:
        """The market of orders this client did not place (the ``symbol`` option)."""
        return self.symbol

    def validating(self, order: OrderInput, exchange: Any) -> Plan[Order]:
        """Core and market checks, then the position-mode rules the venue would enforce."""
        validated = yield from super().validating(order, exchange)
        leverage = validated.leverage
        if leverage is not None and leverage != leverage.to_integral_value():
            raise OrderValidationError("leverage", str(leverage), "must be a whole number, e.g. 10")
        if self.hedge_mode:
            _check_hedge_order(validated)
        elif validated.position_side in (PositionSide.LONG, PositionSide.SHORT):
            raise OrderValidationError(
                "position_side",
                validated.position_side.value,
                "LONG/SHORT need hedge_mode=True (dual-side positions); in one-way mode omit "
                "it or use BOTH, or the venue rejects the order (Binance -4061)",
            )
        return validated

    def order_params(self, order: Order) -> dict[str, Any]:
        """ccxt ``params`` for ``create_order``: the spot ones plus the futures fields."""
        params = super().order_params(order)
        if self.hedge_mode:
            # The side and position side say whether it reduces; Binance refuses a
            # reduceOnly parameter in hedge mode (-1106), so it is never sent there.
            assert order.position_side is not None  # checked in validate()
            params["positionSide"] = order.position_side.value
            return params
        if order.position_side is not None:
            params["positionSide"] = order.position_side.value
        if order.reduce_only is not None:
            params["reduceOnly"] = order.reduce_only
        return params

    def positions(self, symbols: list[str] | None = None) -> list[Position]:
        """Open positions (non-zero size), e.g. to reconcile after a restart."""
        fetched = self._retrying("fetch_positions", lambda: self.exchange.fetch_positions(symbols))
        return to_positions(fetched)

    def send_plan(self, order: Order) -> Plan[OrderAck]:
        """The spot send plan, after the symbol's position mode, margin mode and leverage
        are set on the venue (each once per symbol)."""
        yield from self._preparing(order)
        return (yield from super().send_plan(order))

    def _preparing(self, order: Order) -> Plan[None]:
        """Account settings the order needs, each applied once (or when it changes).

        Two orders racing here may both apply a setting: harmless, the venue's "already
        set" answer is accepted; no lock is held across a venue call (on an event loop
        that would block every other task)."""
        market = yield from ccxt_call("market", "market", order.symbol)
        symbol = market["symbol"]
        leverage = int(order.leverage) if order.leverage is not None else self.leverage
        if self.hedge_mode is not None and not self._position_mode_done:
            yield from self._applying("set_position_mode", self.hedge_mode)
            self._position_mode_done = True
        margin_mode = self.margin_mode
        if margin_mode is not None and symbol not in self._margin_mode_done:
            yield from self._applying("set_margin_mode", margin_mode, symbol)
            self._margin_mode_done.add(symbol)
        if leverage is not None and self._leverage_now.get(symbol) != leverage:
            yield from self._applying("set_leverage", leverage, symbol)
            self._leverage_now[symbol] = leverage

    def _applying(self, method: str, *args: Any) -> Plan[None]:
        try:
            yield from ccxt_call(method, method, *args)
        except OrderRejected as exc:
            raw = exc.raw or {}
            if venue_code(raw) not in ALREADY_SET_CODES and raw.get("error") not in (
                ALREADY_SET_ERRORS
            ):
                raise
            log.info("%s: %s already in place (%s)", self.venue.id, method, raw.get("msg"))


def _check_hedge_order(order: Order) -> None:
    """In hedge mode the position side is required, and a reducing order must close it."""
    if order.position_side in (None, PositionSide.BOTH):
        given = order.position_side.value if order.position_side else None
        raise OrderValidationError(
            "position_side", given, "required in hedge mode (hedge_mode=True): LONG or SHORT"
        )
    closes = Side.SELL if order.position_side is PositionSide.LONG else Side.BUY
    if order.reduce_only and order.side is not closes:
        raise OrderValidationError(
            "reduce_only",
            True,
            f"a {order.side.value} order cannot reduce a {order.position_side.value} position; "
            f"in hedge mode {closes.value} with position_side {order.position_side.value} "
            "closes it",
        )
