"""``qmtl-connectors serve-broker``: run the reference broker server until interrupted."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

_PORT_HELP = "TCP port on 127.0.0.1 (0 picks a free one, printed at start)"


def _price(text: str) -> tuple[str, str]:
    symbol, sep, price = text.partition("=")
    if not sep or not symbol or not price:
        raise argparse.ArgumentTypeError(
            f"expected SYMBOL=PRICE such as BTC/USDT=50000, got {text!r}"
        )
    return symbol, price


def add_serve_broker(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve-broker", help="run the HTTP reference broker (paper engine) on 127.0.0.1"
    )
    parser.add_argument("--port", type=int, default=8080, help=_PORT_HELP)
    parser.add_argument(
        "--price",
        type=_price,
        action="append",
        default=[],
        metavar="SYMBOL=PRICE",
        help="initial last price; repeat for several symbols",
    )
    parser.set_defaults(func=serve_broker)


def serve_broker(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, then stop cleanly and return 0."""
    from qmtl_plugin_http.server import BrokerServer

    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with BrokerServer(args.port, prices=dict(args.price)) as server:
            print(f"reference broker: orders at {server.url}", flush=True)
            print(
                f"admin: POST {server.base_url}/admin/price, GET {server.base_url}/admin/orders, "
                f"POST/DELETE {server.base_url}/admin/faults",
                flush=True,
            )
            while not done.wait(0.5):
                pass
        print("reference broker: stopped", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
