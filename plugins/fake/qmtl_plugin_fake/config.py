"""The ``fake`` connectors' typed configs (no heavy imports: read when listing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qmtl_core.options import ConnectorConfig, setting


@dataclass(frozen=True, kw_only=True)
class FakeBrokerageConfig(ConnectorConfig):
    """Options of the in-memory paper brokerage."""

    prices: dict[str, Any] | None = setting(
        "initial last prices by symbol, e.g. {'BTC/USDT': 50000}", default=None
    )
    futures: bool = setting(
        "accept futures fields (reduce_only, position_side, leverage)", default=False
    )
