"""The ``fake`` brokerage and feed: a paper engine and an in-memory feed, offline.

Both are the ``dryrun`` stand-ins: in the ``dryrun`` domain every config's orders go
to this brokerage and its feed is this feed.
"""

from __future__ import annotations

from qmtl_core.hookspecs import hookimpl
from qmtl_core.registry import Register


@hookimpl
def register_connectors(register: Register) -> None:
    register(
        "brokerage",
        "fake",
        "qmtl_plugin_fake.brokerage:FakeBrokerageClient.from_config",
        config="qmtl_plugin_fake.config:FakeBrokerageConfig",
        summary="in-memory paper engine: market fills at last price, limits rest",
        oco="emulated",
        dryrun=True,
    )
    register(
        "feed",
        "fake",
        "qmtl_plugin_fake.feed:FakeLiveDataFeed.from_config",
        summary="in-memory feed: delivers what you emit()",
        dryrun=True,
    )
    register.export("FakeBrokerageClient", "qmtl_plugin_fake.brokerage:FakeBrokerageClient")
    register.export("FakeLiveDataFeed", "qmtl_plugin_fake.feed:FakeLiveDataFeed")
