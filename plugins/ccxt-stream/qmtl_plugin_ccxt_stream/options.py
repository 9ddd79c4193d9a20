"""The one declaration of the ``ccxt`` feed's options, and the channel names it accepts.

Free of ccxt imports: the registry reads it when listing connectors. The venue options
(credentials, sandbox, ccxt ``options``) are the ccxt brokerages' own declaration,
so a feed and a brokerage on the same exchange are configured alike.
"""

from __future__ import annotations

from qmtl_core.options import Option, Schema
from qmtl_plugin_ccxt_spot.options import EXCHANGE_OPTION, VENUE_OPTIONS

#: Channels a feed can follow, and the ccxt.pro capability each one needs.
CHANNEL_CAPABILITIES = {
    "trades": "watchTrades",
    "order_book": "watchOrderBook",
    "ohlcv": "watchOHLCV",
    "ticker": "watchTicker",
}
DEFAULT_TIMEFRAME = "1m"
DEFAULT_DEPTH = 10
DEFAULT_QUEUE_SIZE = 1000

#: The brokerage's retry settings mean "order retries"; the feed has its own reconnect ones.
_REPLACED = ("max_retries", "backoff")

#: How the feed reaches the venue: the ccxt brokerages' declaration minus order retries.
VENUE_SCHEMA: Schema = tuple(o for o in VENUE_OPTIONS if o.name not in _REPLACED)

FEED_OPTIONS: Schema = (
    EXCHANGE_OPTION,
    Option("symbols", list, "unified symbols to follow, e.g. ['BTC/USDT']", required=True),
    Option(
        "channels",
        list,
        "what to stream per symbol: trades, order_book, ohlcv:<timeframe> (e.g. ohlcv:1m), ticker",
        default=["trades"],
    ),
    Option("order_book_depth", int, "levels per side in each order_book message", default=10),
    Option("queue_size", int, "messages held for a slow on_message before reading pauses"),
    Option("max_retries", int, "reconnect attempts per outage before giving up (default: none)"),
    Option("backoff", float, "first reconnect delay in seconds (runtime default)"),
    Option("max_backoff", float, "largest reconnect delay in seconds (runtime default)"),
    Option("keepalive", float, "seconds between pings; two unanswered mean a dead connection"),
    *VENUE_SCHEMA,
)
