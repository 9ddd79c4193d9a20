"""Registers the ``position-limit`` brokerage with qmtl (entry point ``qmtl.connectors``).

This module is imported whenever qmtl lists connectors, so it stays tiny: the typed
config is a plain dataclass module, and the connector itself is named by a
``"module:attr"`` string and imported on first use.
"""

from __future__ import annotations

from qmtl_core.hookspecs import hookimpl
from qmtl_core.registry import Register


@hookimpl
def register_connectors(register: Register) -> None:
    register(
        "brokerage",
        "position-limit",
        "qmtl_position_limit.broker:PositionLimitBrokerage.from_config",
        config="qmtl_position_limit.config:PositionLimitConfig",
        summary="wraps another brokerage; refuses orders that could breach a position limit",
        oco="as inner",
    )
    register.export("PositionLimitBrokerage", "qmtl_position_limit.broker:PositionLimitBrokerage")
