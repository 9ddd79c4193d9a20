"""The ``ccxt`` feed: exchange market data over ccxt.pro WebSockets, any ccxt exchange.

Registration only: the config class is ccxt-free and the factory is a ``"module:attr"``
string, so listing connectors imports no ccxt code. Exchange construction, sandbox
routing and secret scrubbing are ``qmtl-ccxt-common``'s, shared with the brokerages.
"""

from __future__ import annotations

from qmtl_core.hookspecs import hookimpl
from qmtl_core.registry import Register


@hookimpl
def register_connectors(register: Register) -> None:
    register(
        "feed",
        "ccxt",
        "qmtl_plugin_ccxt_stream.feed:CcxtStreamFeed.from_config",
        config="qmtl_plugin_ccxt_stream.config:CcxtStreamConfig",
        summary="exchange trades, order book, candles and tickers over ccxt.pro WebSockets",
        prices=True,  # trades and tickers: dryrun trades on them (paper on live prices)
    )
    register.export("CcxtStreamFeed", "qmtl_plugin_ccxt_stream.feed:CcxtStreamFeed")
