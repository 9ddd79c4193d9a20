"""The ``websocket`` feed: a reconnecting, back-pressured WebSocket live data feed.

Registration only: the connector, its public names and the ``serve-gateway`` command are
declared by ``"module:attr"`` strings, so listing connectors imports neither
websocket-client nor websockets.
"""

from __future__ import annotations

import argparse

from qmtl_core.hookspecs import hookimpl
from qmtl_core.options import Option
from qmtl_core.registry import Register

FEED_OPTIONS = (
    Option("url", str, "ws:// or wss:// URL of the gateway, e.g. wss://gateway/ws", required=True),
    Option("token", str, "bearer token, sent as 'Authorization: Bearer <token>'"),
    Option("subscribe", list, "messages sent after every connect (mappings are sent as JSON)"),
    Option(
        "max_retries", int, "reconnect attempts per outage before giving up (default: no limit)"
    ),
    Option("max_total_time", float, "seconds an outage may last before giving up (default: none)"),
    Option("ping_interval", float, "ping after this many quiet seconds (runtime default)"),
    Option("recv_timeout", float, "reconnect after this many seconds without a frame"),
    Option("connect_timeout", float, "TCP, TLS and HTTP handshake timeout in seconds"),
    Option("backoff", float, "first reconnect delay in seconds (runtime default)"),
    Option("max_backoff", float, "largest reconnect delay in seconds (runtime default)"),
    Option("healthy_after", float, "seconds a connection must last to reset the retry budget"),
    Option("queue_size", int, "messages held for a slow on_message before reading pauses"),
)


@hookimpl
def register_connectors(register: Register) -> None:
    register(
        "feed",
        "websocket",
        "qmtl_plugin_websocket.feed:WebSocketFeed",
        options=FEED_OPTIONS,
        summary="WebSocket feed: bearer auth, heartbeat, reconnect with backoff, back-pressure",
    )
    register.export("WebSocketFeed", "qmtl_plugin_websocket.feed:WebSocketFeed")
    register.export("WebSocketClient", "qmtl_plugin_websocket.client:WebSocketClient")


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve-gateway",
        help="run the local WebSocket gateway on 127.0.0.1 (for demos and manual tests)",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument(
        "--token", help="bearer token clients must send (default: $QMTL_WS_TOKEN, else a new one)"
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between BTC/USDT price ticks"
    )
    parser.set_defaults(func=_serve_gateway)


def _serve_gateway(args: argparse.Namespace) -> int:
    from qmtl_plugin_websocket.gateway import serve_forever

    return serve_forever(port=args.port, token=args.token, interval=args.interval)
