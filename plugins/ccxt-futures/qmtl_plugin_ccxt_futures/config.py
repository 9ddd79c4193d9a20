"""The ``ccxt-futures`` brokerage's typed config: the shared ccxt config plus account settings."""

from __future__ import annotations

from dataclasses import dataclass

from qmtl_ccxt_common.config import CcxtConfig
from qmtl_core.options import setting


@dataclass(frozen=True, kw_only=True)
class CcxtFuturesConfig(CcxtConfig):
    """Futures-only settings, applied per symbol before its first order."""

    exchange: str = setting(
        "ccxt exchange id, e.g. 'binanceusdm' or 'bybit'", default="binanceusdm"
    )

    symbol: str | None = setting(
        "market of orders this client did not place, e.g. 'BTC/USDT'", default=None
    )
    leverage: int | None = setting(
        "leverage set per symbol before its first order", default=None, minimum=1
    )
    margin_mode: str | None = setting(
        "margin mode, set per symbol before its first order.",
        default=None,
        choices=("cross", "isolated"),
    )
    hedge_mode: bool | None = setting(
        "dual-side positions (LONG and SHORT at once); set once", default=None
    )
