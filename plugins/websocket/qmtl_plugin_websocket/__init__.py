"""The ``websocket`` feed: a reconnecting, back-pressured WebSocket live data feed.

Registration only: the connector, its public names and the ``serve-gateway`` command are
declared by ``"module:attr"`` strings, so listing connectors imports neither
websocket-client nor websockets.
"""

from __future__ import annotations

import argparse

from qmtl_core.hookspecs import hookimpl
from qmtl_core.registry import Register


@hookimpl
def register_connectors(register: Register) -> None:
    register(
        "feed",
        "websocket",
        "qmtl_plugin_websocket.feed:WebSocketFeed.from_config",
        config="qmtl_plugin_websocket.config:WebSocketFeedConfig",
        summary="WebSocket feed: bearer auth, heartbeat, reconnect with backoff, back-pressure",
    )
    register.shorthand(
        "ws_url",
        "feed",
        "websocket",
        "url",
        "seed shorthand for `feed: {name: websocket, url: ...}`",
        selects=True,
    )
    register.shorthand(
        "ws_token",
        "feed",
        "websocket",
        "token",
        "seed shorthand for `feed: {name: websocket, token: ...}` (with ws_url)",
    )
    register.export("WebSocketFeed", "qmtl_plugin_websocket.feed:WebSocketFeed")
    register.export("WebSocketClient", "qmtl_plugin_websocket.client:WebSocketClient")


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve-gateway`` sub-command to the ``qmtl-connectors`` parser."""
    summary = "run the local WebSocket gateway on 127.0.0.1 (for demos and manual tests)"
    parser = subparsers.add_parser("serve-gateway", help=summary, description=summary)
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument(
        "--token",
        help="bearer token clients must send (default: $QMTL_WS_TOKEN, else a new one, printed)",
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between BTC/USDT price ticks"
    )
    parser.set_defaults(func=_serve_gateway)


def _serve_gateway(args: argparse.Namespace) -> int:
    from qmtl_core.plugins import load_extra

    serve_forever = load_extra(
        "qmtl_plugin_websocket.gateway:serve_forever", "qmtl-plugin-websocket[gateway]"
    )
    return int(serve_forever(port=args.port, token=args.token, interval=args.interval))
