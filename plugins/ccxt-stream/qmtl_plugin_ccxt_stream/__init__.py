"""The ``ccxt`` feed: exchange market data over ccxt.pro WebSockets, any ccxt exchange.

Registration only: the factory is a ``"module:attr"`` string, so listing connectors
imports no ccxt code.
"""

from __future__ import annotations

from qmtl_core.hookspecs import hookimpl
from qmtl_core.registry import Register
from qmtl_plugin_ccxt_stream.options import FEED_OPTIONS


@hookimpl
def register_connectors(register: Register) -> None:
    register(
        "feed",
        "ccxt",
        "qmtl_plugin_ccxt_stream.feed:CcxtStreamFeed",
        options=FEED_OPTIONS,
        summary="exchange trades, order book, candles and tickers over ccxt.pro WebSockets",
        extra_options=True,
    )
    register.export("CcxtStreamFeed", "qmtl_plugin_ccxt_stream.feed:CcxtStreamFeed")
