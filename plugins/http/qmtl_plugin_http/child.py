"""The reference broker in a process of its own, faults armed from the command line.

``python -m qmtl_plugin_http.child --stall 25 --stall-seconds 0.6 --fail 25`` prints
the orders URL on its first line, serves until its stdin closes, then prints the
number of orders it holds and exits. Tests and benchmarks that measure a client's
event loop use it so that the broker's threads do not compete with the client for
the interpreter lock, as a real broker would not.
"""

from __future__ import annotations

import argparse
import sys

from qmtl_plugin_http.server import BrokerServer


def main(argv: list[str] | None = None) -> int:
    """Serve until stdin closes; report the order count."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbol", default="BTC/USDT")
    parser.add_argument("--price", default="50000")
    parser.add_argument("--token", default=None)
    parser.add_argument("--stall", type=int, default=0, help="POSTs answered late")
    parser.add_argument("--stall-seconds", type=float, default=0.5)
    parser.add_argument("--fail", type=int, default=0, help="POSTs answered 503")
    args = parser.parse_args(argv)
    with BrokerServer(prices={args.symbol: args.price}, token=args.token) as server:
        if args.stall:
            server.faults.stall_next(args.stall, args.stall_seconds, method="POST")
        if args.fail:
            server.faults.fail_next(args.fail, 503, method="POST")
        print(server.url, flush=True)
        sys.stdin.read()
        print(server.order_count, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
