"""The ``ccxt`` brokerage (spot orders on any ccxt exchange) and ``make_ccxt_brokerage``.

Registration imports no ccxt code: the config class is ccxt-free and the factories are
``"module:attr"`` strings resolved on first use. The ccxt plumbing shared with
``qmtl-plugin-ccxt-futures`` lives in ``qmtl-ccxt-common``, a declared dependency.
"""

from __future__ import annotations

from qmtl_core.hookspecs import hookimpl
from qmtl_core.registry import Register


@hookimpl
def register_connectors(register: Register) -> None:
    register(
        "brokerage",
        "ccxt",
        "qmtl_plugin_ccxt_spot.client:CcxtBrokerageClient.from_config",
        config="qmtl_ccxt_common.config:CcxtConfig",
        summary="spot orders on any ccxt exchange; Binance testnet/demo supported",
        oco="exchange-dependent",
    )
    register.export("CcxtBrokerageClient", "qmtl_plugin_ccxt_spot.client:CcxtBrokerageClient")
    register.export("make_ccxt_brokerage", "qmtl_ccxt_common.fees:make_ccxt_brokerage")
