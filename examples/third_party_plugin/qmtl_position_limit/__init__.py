"""Registers the ``position-limit`` brokerage with qmtl (entry point ``qmtl.connectors``).

This module is imported whenever qmtl lists connectors, so it stays tiny: the
connector itself is named by a ``"module:attr"`` string and imported on first use.
"""

from __future__ import annotations

from qmtl_core.hookspecs import hookimpl
from qmtl_core.options import Option
from qmtl_core.registry import Register

OPTIONS = (
    Option("inner", str, "name of the brokerage connector that places the orders", required=True),
    Option("inner_options", dict, "options of the inner connector, as in its own section"),
    Option(
        "limits",
        dict,
        "largest absolute position per symbol, e.g. {'BTC/USDT': 0.5}",
        required=True,
    ),
)


@hookimpl
def register_connectors(register: Register) -> None:
    register(
        "brokerage",
        "position-limit",
        "qmtl_position_limit.broker:PositionLimitBrokerage",
        options=OPTIONS,
        summary="wraps another brokerage; refuses orders that could breach a position limit",
        oco="as inner",
    )
    register.export("PositionLimitBrokerage", "qmtl_position_limit.broker:PositionLimitBrokerage")
