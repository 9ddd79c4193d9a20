"""The ``ccxt`` brokerage (spot orders on any ccxt exchange) and ``make_ccxt_brokerage``.

Registration imports no ccxt code: factories are ``"module:attr"`` strings resolved on
first use. The venue-neutral ccxt plumbing here (error classification, status mapping,
precision and limit checks, client-id lookup, sandbox/demo selection) is also the
base of ``qmtl-plugin-ccxt-futures``, which declares this distribution as a dependency.
"""

from __future__ import annotations

from qmtl_core.hookspecs import hookimpl
from qmtl_core.registry import Register
from qmtl_plugin_ccxt_spot.options import SPOT_OPTIONS


@hookimpl
def register_connectors(register: Register) -> None:
    register(
        "brokerage",
        "ccxt",
        "qmtl_plugin_ccxt_spot.client:CcxtBrokerageClient",
        options=SPOT_OPTIONS,
        summary="spot orders on any ccxt exchange; Binance testnet/demo supported",
        oco="exchange-dependent",
        extra_options=True,
    )
    register.export("CcxtBrokerageClient", "qmtl_plugin_ccxt_spot.client:CcxtBrokerageClient")
    register.export("make_ccxt_brokerage", "qmtl_plugin_ccxt_spot.fees:make_ccxt_brokerage")
