"""``make_ccxt_brokerage``: maker/taker fees from ccxt metadata, charged on what filled.

Fees come from the symbol's market (``load_markets``), else the exchange's static fee
schedule that ships with ccxt (no network needed), else the caller's ``defaults``; the
model says which. Detected fees are cached per (exchange, product, sandbox, symbol).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from qmtl_ccxt_common.config import CcxtConfig
from qmtl_ccxt_common.markets import market_for
from qmtl_ccxt_common.products import PRODUCTS
from qmtl_ccxt_common.venue import Venue, open_venue
from qmtl_core.errors import BrokerageError, ConfigError, OrderValidationError
from qmtl_core.orders import OrderAck, to_decimal

FeeSource = Literal["market", "exchange", "defaults"]
Liquidity = Literal["maker", "taker"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CcxtBrokerageModel:
    """Maker/taker fee rates of one venue and product, and the metadata they came from."""

    exchange_id: str
    product: str
    symbol: str | None
    sandbox: bool
    maker: Decimal
    taker: Decimal
    source: FeeSource

    def rate(self, liquidity: Liquidity) -> Decimal:
        if liquidity not in ("maker", "taker"):
            raise ValueError(f"liquidity must be 'maker' or 'taker', got {liquidity!r}")
        return self.maker if liquidity == "maker" else self.taker

    def fee(self, filled_quantity: Any, price: Any, liquidity: Liquidity) -> Decimal:
        """Fee in quote currency for ``filled_quantity`` executed at ``price``."""
        quantity = to_decimal("filled_quantity", filled_quantity)
        at = to_decimal("price", price)
        if quantity < 0 or at < 0:
            raise ValueError(f"quantity and price must be >= 0, got {quantity} at {at}")
        return quantity * at * self.rate(liquidity)

    def fee_for(self, ack: OrderAck, liquidity: Liquidity) -> Decimal:
        """Fee for what an order actually filled: nothing for an unfilled order."""
        if ack.filled_quantity == 0 or ack.average_price is None:
            return Decimal(0)
        return self.fee(ack.filled_quantity, ack.average_price, liquidity)


CacheKey = tuple[str, str, bool, str | None]
_cache: dict[CacheKey, CcxtBrokerageModel] = {}
_cache_lock = threading.Lock()


def clear_fee_cache() -> None:
    """Forget every detected fee schedule (the next call detects again)."""
    with _cache_lock:
        _cache.clear()


def make_ccxt_brokerage(
    exchange_id: str,
    product: str = "spot",
    symbol: str | None = None,
    sandbox: bool = False,
    detect_fees: bool = True,
    defaults: tuple[Any, Any] | None = None,
    *,
    refresh: bool = False,
) -> CcxtBrokerageModel:
    """A fee model for ``exchange_id``; ``refresh=True`` re-detects instead of using the cache.

    ``defaults`` is ``(maker, taker)``, used when detection is off or finds nothing.
    """
    if product not in PRODUCTS:
        raise ConfigError(f"expected one of {', '.join(PRODUCTS)}, got {product!r}", key="product")
    fallback = _defaults(defaults)
    key: CacheKey = (exchange_id, product, bool(sandbox), symbol)
    if detect_fees:
        with _cache_lock:
            cached = None if refresh else _cache.get(key)
        if cached is not None:
            return cached
        detected = _detect(exchange_id, product, symbol, bool(sandbox))
        if detected is not None:
            model = CcxtBrokerageModel(exchange_id, product, symbol, bool(sandbox), *detected)
            with _cache_lock:
                _cache[key] = model
            return model
    if fallback is None:
        reason = "detect_fees=False" if not detect_fees else "ccxt has no fee metadata for it"
        raise ConfigError(f"{reason}; pass defaults=(maker, taker)", key="defaults")
    return CcxtBrokerageModel(exchange_id, product, symbol, bool(sandbox), *fallback, "defaults")


def _defaults(defaults: tuple[Any, Any] | None) -> tuple[Decimal, Decimal] | None:
    if defaults is None:
        return None
    try:
        maker, taker = defaults
        return to_decimal("maker", maker), to_decimal("taker", taker)
    except (OrderValidationError, TypeError, ValueError) as exc:
        raise ConfigError(f"expected (maker, taker) numbers: {exc}", key="defaults") from None


def _detect(
    exchange_id: str, product: str, symbol: str | None, sandbox: bool
) -> tuple[Decimal, Decimal, FeeSource] | None:
    venue = open_venue(
        CcxtConfig.parse({"exchange": exchange_id, "sandbox": sandbox}), PRODUCTS[product]
    )
    if symbol is not None:
        market = _market(venue, symbol)
        pair = None if market is None else _pair(market)
        if pair is not None:
            return (*pair, "market")
    pair = _pair(_static_schedule(venue.exchange.fees, PRODUCTS[product].linear_fees))
    return None if pair is None else (*pair, "exchange")


def _market(venue: Venue, symbol: str) -> Mapping[str, Any] | None:
    """The symbol's market, or None when markets cannot be loaded (offline, venue down)."""
    try:
        venue.call("load_markets", venue.exchange.load_markets)
    except BrokerageError as exc:
        log.info("%s: markets unavailable (%s); using ccxt's static fee schedule", venue.id, exc)
        return None
    try:
        return market_for(venue.exchange, symbol)
    except OrderValidationError as exc:
        raise ConfigError(exc.rule, key="symbol") from None


def _static_schedule(fees: Mapping[str, Any], linear: bool) -> Mapping[str, Any]:
    """ccxt's built-in schedule; USD-margined contracts have their own on multi-product ids."""
    if linear:
        schedule = (fees.get("linear") or {}).get("trading")
        if schedule:
            return dict(schedule)
    return dict(fees.get("trading") or {})


def _pair(source: Mapping[str, Any]) -> tuple[Decimal, Decimal] | None:
    maker, taker = source.get("maker"), source.get("taker")
    if maker is None or taker is None:
        return None
    return to_decimal("maker", maker), to_decimal("taker", taker)
