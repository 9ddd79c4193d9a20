"""The ``ccxt-futures`` brokerage: USD-margined futures on ccxt (Binance USD-M and others).

Built on ``qmtl-ccxt-common``, a declared dependency of this distribution: the futures
client subclasses the shared ccxt client, so the venue-neutral ccxt plumbing exists
once. Registration imports no ccxt code.
"""

from __future__ import annotations

from qmtl_core.hookspecs import hookimpl
from qmtl_core.registry import Register


@hookimpl
def register_connectors(register: Register) -> None:
    register(
        "brokerage",
        "ccxt-futures",
        "qmtl_plugin_ccxt_futures.client:FuturesCcxtBrokerageClient.from_config",
        config="qmtl_plugin_ccxt_futures.config:CcxtFuturesConfig",
        summary="USD-margined futures on ccxt; Binance USD-M demo trading supported",
        oco="exchange-dependent",
        futures=True,
    )
    register.export(
        "FuturesCcxtBrokerageClient", "qmtl_plugin_ccxt_futures.client:FuturesCcxtBrokerageClient"
    )
