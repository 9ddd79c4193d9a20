"""``qmtl-connectors serve-broker``: run the reference broker server until interrupted.

The command is declared on every CLI start (even ``qmtl-connectors plugins``), so this
module imports only argparse; what running it needs is imported when it runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from qmtl_core.plugins import load_extra

if TYPE_CHECKING:
    from decimal import Decimal
    from types import FrameType

    from qmtl_core.rate_limits import Limit

#: Pools the reference broker can limit (see ``--rate-limit``).
POOLS = ("orders", "requests")

_PORT_HELP = "TCP port on 127.0.0.1 (0 picks a free one, printed at start)"


def _price(text: str) -> tuple[str, Decimal]:
    from decimal import Decimal

    from qmtl_core.errors import OrderValidationError
    from qmtl_core.orders import to_decimal

    symbol, sep, price = text.partition("=")
    try:
        value = to_decimal("price", price)
    except OrderValidationError:
        value = Decimal(0)
    if not sep or not symbol or value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected SYMBOL=PRICE with a price > 0, such as BTC/USDT=50000, got {text!r}"
        )
    return symbol, value


def _rate_limit(text: str) -> tuple[str, Limit]:
    from qmtl_core.rate_limits import parse_limit

    pool, sep, spec = text.partition("=")
    if not sep or pool not in POOLS:
        raise argparse.ArgumentTypeError(
            f"expected POOL=LIMIT/INTERVAL with POOL one of {', '.join(POOLS)}, "
            f"such as orders=40/1s, got {text!r}"
        )
    try:
        return pool, parse_limit(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{pool}: {exc}") from None


#: The environment variable ``--token`` defaults to.
TOKEN_ENV = "QMTL_BROKER_TOKEN"  # noqa: S105 (a variable name, not a secret)


def add_serve_broker(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve-broker`` sub-command to the ``qmtl-connectors`` parser."""
    summary = "run the HTTP reference broker (paper engine) on 127.0.0.1"
    parser = subparsers.add_parser("serve-broker", help=summary, description=summary)
    parser.add_argument(
        "--port", type=int, default=8080, help=f"{_PORT_HELP}; default: %(default)s"
    )
    parser.add_argument(
        "--token",
        help=f"require 'Authorization: Bearer TOKEN' on order requests (default: ${TOKEN_ENV}; "
        "neither: no token needed)",
    )
    parser.add_argument(
        "--price",
        type=_price,
        action="append",
        default=[],
        metavar="SYMBOL=PRICE",
        help="initial last price; repeat for several symbols",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        action="append",
        default=[],
        metavar="POOL=LIMIT/INTERVAL",
        help="refuse traffic over a limit with 429 + Retry-After, in fixed clock-aligned "
        "windows; pools: orders (each POST), requests (every order request); e.g. orders=40/1s",
    )
    parser.set_defaults(func=serve_broker)


def serve_broker(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, then stop cleanly and return 0."""
    import signal
    import threading

    server_class = load_extra("qmtl_plugin_http.server:BrokerServer", "qmtl-plugin-http[server]")
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    import os

    token = args.token or os.environ.get(TOKEN_ENV) or None
    server = server_class(
        args.port, prices=dict(args.price), rate_limits=dict(args.rate_limit), token=token
    )
    try:
        server.start()
    except OSError as exc:
        print(f"error: cannot serve on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"reference broker: orders at {server.url}", flush=True)
        if token:
            print("order requests need 'Authorization: Bearer <token>' (--token)", flush=True)
        for pool, limit in server.limiter.limits.items():
            print(f"rate limit: {pool} {limit} (429 + Retry-After beyond)", flush=True)
        print(
            f"admin: POST {server.base_url}/admin/price, GET {server.base_url}/admin/orders, "
            f"POST/DELETE {server.base_url}/admin/faults",
            flush=True,
        )
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("reference broker: stopped", flush=True)
    return 0
