"""What a ccxt product (spot, USD-margined futures) sets on the exchange: shared data.

The spot and futures connectors each pick theirs; the fee model picks by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Product:
    """ccxt defaults of one product, and where its sandbox really is."""

    name: str
    #: ccxt options; keys an exchange does not use are ignored by ccxt.
    defaults: Mapping[str, Any]
    #: Exchange ids whose ``sandbox`` means demo trading for this product.
    demo_instead_of_sandbox: frozenset[str] = frozenset()
    #: Fees come from the exchange's ``linear`` schedule when it has one.
    linear_fees: bool = False


#: Only spot markets are loaded; margin pairs and currency metadata (extra signed calls at
#: startup) are skipped; open orders without a symbol are allowed for reconciliation.
SPOT = Product(
    "spot",
    {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchMargins": False,
        "fetchCurrencies": False,
        "fetchOpenOrders": {"warnWithoutSymbol": False},
    },
)
#: USD-margined perpetuals ("BTC/USDT" resolves to "BTC/USDT:USDT"). Binance retired its
#: futures testnet for "demo trading", and ccxt refuses sandbox mode on every private
#: futures call; for these ids a futures ``sandbox`` means demo.
FUTURES = Product(
    "futures",
    {
        "defaultType": "swap",
        "fetchMarkets": {"types": ["linear"]},
        "fetchCurrencies": False,
        "fetchOpenOrders": {"warnWithoutSymbol": False},
    },
    demo_instead_of_sandbox=frozenset({"binance", "binanceusdm", "binancecoinm"}),
    linear_fees=True,
)
PRODUCTS: Mapping[str, Product] = {p.name: p for p in (SPOT, FUTURES)}
