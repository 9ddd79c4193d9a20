"""The ``fake`` brokerage and feed: a paper engine and an in-memory feed, offline."""

from __future__ import annotations

from qmtl_core.hookspecs import hookimpl
from qmtl_core.options import Option
from qmtl_core.registry import Register

BROKERAGE_OPTIONS = (
    Option("prices", dict, "initial last prices by symbol, e.g. {'BTC/USDT': 50000}"),
    Option("futures", bool, "accept futures fields (reduce_only, position_side, leverage)"),
)


@hookimpl
def register_connectors(register: Register) -> None:
    register(
        "brokerage",
        "fake",
        "qmtl_plugin_fake.brokerage:FakeBrokerageClient",
        options=BROKERAGE_OPTIONS,
        summary="in-memory paper engine: market fills at last price, limits rest",
        oco="emulated",
    )
    register(
        "feed",
        "fake",
        "qmtl_plugin_fake.feed:FakeLiveDataFeed",
        summary="in-memory feed: delivers what you emit()",
    )
    register.export("FakeBrokerageClient", "qmtl_plugin_fake.brokerage:FakeBrokerageClient")
    register.export("FakeLiveDataFeed", "qmtl_plugin_fake.feed:FakeLiveDataFeed")
