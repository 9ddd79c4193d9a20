"""The ``ccxt`` feed's typed config: the ccxt venue options plus what to stream.

Free of ccxt imports: the registry reads it when listing connectors. The venue options
(exchange, credentials, sandbox/demo, ccxt ``options`` and settings) are ccxt-common's
:class:`CcxtVenueConfig`, the same declaration the ccxt brokerages inherit, so a feed
and a brokerage on one exchange are configured alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qmtl_ccxt_common.config import CcxtVenueConfig
from qmtl_core.errors import ConfigError
from qmtl_core.options import did_you_mean, setting

#: Channels a feed can follow, and the ccxt.pro capability each one needs.
CHANNEL_CAPABILITIES = {
    "trades": "watchTrades",
    "order_book": "watchOrderBook",
    "ohlcv": "watchOHLCV",
    "ticker": "watchTicker",
    "orders": "watchOrders",
}
#: Channels that follow the account, not the market: they need ``apiKey`` and ``secret``.
PRIVATE_CHANNELS = frozenset({"orders"})
DEFAULT_TIMEFRAME = "1m"
DEFAULT_DEPTH = 10
DEFAULT_QUEUE_SIZE = 1000


def parse_channel(text: Any) -> tuple[str, str | None]:
    """``"ohlcv:1m"`` -> ("ohlcv", "1m"); a clear ConfigError for anything else."""
    if not isinstance(text, str):
        raise ConfigError(f"a channel is text such as 'trades', got {text!r}", key="channels")
    name, _, timeframe = text.partition(":")
    if name not in CHANNEL_CAPABILITIES:
        known = [*CHANNEL_CAPABILITIES, "ohlcv:1m"]
        raise ConfigError(
            f"unknown channel '{text}'{did_you_mean(name, list(CHANNEL_CAPABILITIES))} "
            f"(known: {', '.join(known)})",
            key="channels",
        )
    if name == "ohlcv":
        return name, timeframe or DEFAULT_TIMEFRAME
    if timeframe:
        raise ConfigError(f"only ohlcv takes a timeframe, got '{text}'", key="channels")
    return name, None


@dataclass(frozen=True, kw_only=True)
class CcxtStreamConfig(CcxtVenueConfig):
    """What a ``ccxt`` feed follows and how it rides out outages; ``None`` means the
    runtime default."""

    symbols: list[str] = setting("unified symbols to follow, e.g. ['BTC/USDT']")
    channels: list[str] = setting(
        "what to stream per symbol: trades, order_book, ohlcv:<timeframe> (e.g. ohlcv:1m), "
        "ticker, orders (your orders' updates; needs apiKey and secret)",
        default=["trades"],
    )
    order_book_depth: int = setting(
        "levels per side in each order_book message", default=DEFAULT_DEPTH, minimum=1
    )
    queue_size: int = setting(
        "messages held for a slow on_message before reading pauses",
        default=DEFAULT_QUEUE_SIZE,
        minimum=1,
    )
    max_retries: int | None = setting(
        "reconnect attempts per outage before giving up (default: no limit)",
        default=None,
        minimum=0,
    )
    backoff: float | None = setting(
        "first reconnect delay in seconds (runtime default)", default=None, above=0
    )
    max_backoff: float | None = setting(
        "largest reconnect delay in seconds (runtime default)", default=None, above=0
    )
    keepalive: float | None = setting(
        "seconds between pings; two unanswered mean a dead connection (ccxt default)",
        default=None,
        above=0,
    )

    def check(self) -> None:
        super().check()
        if not self.symbols or not all(isinstance(s, str) and s for s in self.symbols):
            raise ConfigError(
                f"must be a non-empty list of symbols such as 'BTC/USDT', got {self.symbols!r}",
                key="symbols",
            )
        if not self.channels:
            raise ConfigError("must name at least one channel, e.g. [trades]", key="channels")
        private = [n for n, _ in self.streams() if n in PRIVATE_CHANNELS]
        if private and (self.apiKey is None or self.secret is None):
            raise ConfigError(
                f"the {private[0]} channel is private: give apiKey and secret, or remove it",
                key="channels",
            )

    def streams(self) -> list[tuple[str, str | None]]:
        """The channels as (name, timeframe) pairs (a ConfigError for a bad one)."""
        return [parse_channel(c) for c in self.channels]
