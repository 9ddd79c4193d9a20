"""The ``http`` brokerage: orders over the HTTP broker protocol, and its reference server.

Registration is cheap: the client (and ``requests``) are imported only when a client
is built; the CLI command imports the server only when it runs.
"""

from __future__ import annotations

import argparse

from qmtl_core.hookspecs import hookimpl
from qmtl_core.registry import Register


@hookimpl
def register_connectors(register: Register) -> None:
    register(
        "brokerage",
        "http",
        "qmtl_plugin_http.client:HttpBrokerageClient.from_config",
        config="qmtl_plugin_http.config:HttpBrokerageConfig",
        summary="HTTP broker protocol: idempotent POST, GET/DELETE by id",
        oco="manual",
    )
    register.shorthand(
        "broker_url",
        "brokerage",
        "http",
        "url",
        "seed shorthand for `brokerage: {name: http, url: ...}`",
        selects=True,
    )
    register.shorthand(
        "trade_max_retries",
        "brokerage",
        "http",
        "max_retries",
        "with `broker_url`: the http brokerage's `max_retries`",
    )
    register.shorthand(
        "trade_backoff",
        "brokerage",
        "http",
        "backoff",
        "with `broker_url`: the http brokerage's `backoff` (seconds)",
    )
    register.export("HttpBrokerageClient", "qmtl_plugin_http.client:HttpBrokerageClient")
    register.export("TradeExecutionService", "qmtl_plugin_http.client:TradeExecutionService")


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from qmtl_plugin_http.cli import add_serve_broker

    add_serve_broker(subparsers)
