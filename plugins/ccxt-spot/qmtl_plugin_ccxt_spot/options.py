"""Option schemas of the ccxt connectors, shared by the spot and futures plugins.

Kept free of ccxt imports: the registry reads these when listing connectors, and
listing must stay cheap. One declaration validates ``qmtl.yml``, ``registry.create``
keyword arguments and direct ``CcxtBrokerageClient(...)`` calls alike.
"""

from __future__ import annotations

from qmtl_core.options import Option, Schema
from qmtl_core.rate_limits import RATE_LIMIT_OPTIONS

EXCHANGE_OPTION = Option(
    "exchange", str, "ccxt exchange id, e.g. 'binance' or 'binanceusdm'", required=True
)

#: Everything a ccxt client accepts besides the exchange itself.
VENUE_OPTIONS: Schema = (
    Option("apiKey", str, "API key; shown as *** everywhere but the venue", aliases=("api_key",)),
    Option("secret", str, "API secret; shown as *** everywhere but the venue"),
    Option(
        "sandbox",
        bool,
        "trade on the venue's testnet (ccxt set_sandbox_mode); Binance futures: demo trading",
        default=False,
        aliases=("testnet",),
    ),
    Option("demo", bool, "trade on the venue's demo-trading environment", default=False),
    Option("options", dict, "ccxt exchange options, e.g. {'defaultType': 'spot'}"),
    Option("enableRateLimit", bool, "let ccxt pace requests to the venue's limits", default=True),
    Option("max_retries", int, "retries of transient failures (timeouts, 5xx, 429)", default=3),
    Option("backoff", float, "first retry delay in seconds; doubles on each retry"),
    *RATE_LIMIT_OPTIONS,
)

#: Futures-only settings, applied per symbol before its first order.
FUTURES_ONLY_OPTIONS: Schema = (
    Option("symbol", str, "market of orders this client did not place, e.g. 'BTC/USDT'"),
    Option("leverage", int, "leverage set per symbol before its first order (1 or more)"),
    Option(
        "margin_mode",
        str,
        "margin mode, set per symbol before its first order.",
        choices=("cross", "isolated"),
    ),
    Option("hedge_mode", bool, "dual-side positions (LONG and SHORT at once); set once"),
)

SPOT_OPTIONS: Schema = (EXCHANGE_OPTION, *VENUE_OPTIONS)
FUTURES_OPTIONS: Schema = (EXCHANGE_OPTION, *VENUE_OPTIONS, *FUTURES_ONLY_OPTIONS)
