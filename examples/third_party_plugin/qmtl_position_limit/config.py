"""The ``position-limit`` brokerage's typed config: declared once, checked by ``check``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qmtl_core.options import ConnectorConfig, setting


@dataclass(frozen=True, kw_only=True)
class PositionLimitConfig(ConnectorConfig):
    """Options of the position-limit wrapper."""

    inner: str = setting("name of the brokerage connector that places the orders")
    inner_options: dict[str, Any] = setting(
        "options of the inner connector, as in its own section", default={}
    )
    limits: dict[str, Any] = setting("largest absolute position per symbol, e.g. {'BTC/USDT': 0.5}")
