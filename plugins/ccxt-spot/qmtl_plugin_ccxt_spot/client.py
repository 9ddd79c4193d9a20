"""CcxtBrokerageClient: spot orders on any ccxt exchange (the shared ccxt client, spot product)."""

from __future__ import annotations

from qmtl_ccxt_common.client import CcxtClient
from qmtl_ccxt_common.products import SPOT


class CcxtBrokerageClient(CcxtClient):
    """``CcxtBrokerageClient("binance", apiKey=..., secret=..., sandbox=True)``.

    Options (also accepted from ``qmtl.yml``): ``apiKey`` (alias ``api_key``),
    ``secret``, ``sandbox`` (alias ``testnet``), ``demo``, ``options`` (ccxt options),
    ``enableRateLimit`` (default on), ``max_retries``, ``backoff``; any other keyword
    must be a ccxt exchange setting and goes to the ccxt constructor. ``exchange`` may
    also be a ready synchronous ccxt exchange instance.

    OCO is manual (``OCOOrder`` watch-and-cancel): ccxt has no unified OCO call.
    """

    product = SPOT
