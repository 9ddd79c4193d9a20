"""The ``http`` brokerage: orders over the HTTP broker protocol, and its reference server.

Registration is cheap: the client (and ``requests``) are imported only when a client
is built; the CLI command imports the server only when it runs.
"""

from __future__ import annotations

import argparse

from qmtl_core.hookspecs import hookimpl
from qmtl_core.options import Option
from qmtl_core.rate_limits import RATE_LIMIT_OPTIONS
from qmtl_core.registry import Register

BROKERAGE_OPTIONS = (
    Option("url", str, "the broker's orders URL, e.g. https://broker/api/orders", required=True),
    Option("max_retries", int, "retries after the first attempt (default 3)", default=3),
    Option(
        "backoff",
        float,
        "first retry delay in seconds, doubled per retry (default 0.1)",
        default=0.1,
    ),
    Option("token", str, "bearer token sent as 'Authorization: Bearer ...' (optional)"),
    *RATE_LIMIT_OPTIONS,
)


@hookimpl
def register_connectors(register: Register) -> None:
    register(
        "brokerage",
        "http",
        "qmtl_plugin_http.client:HttpBrokerageClient",
        options=BROKERAGE_OPTIONS,
        summary="HTTP broker protocol: idempotent POST, GET/DELETE by id",
        oco="manual",
    )
    register.export("HttpBrokerageClient", "qmtl_plugin_http.client:HttpBrokerageClient")
    register.export("TradeExecutionService", "qmtl_plugin_http.client:TradeExecutionService")


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from qmtl_plugin_http.cli import add_serve_broker

    add_serve_broker(subparsers)
