"""CcxtBrokerageClient against bare ccxt calls, same recorded venue, same run.

Each "order" is place (limit, rests) + poll + cancel on recorded Binance spot answers
served in-process by ``responses``: through the client (validation, market precision
and limits, idempotent submission, events, symbol memory) and through a bare
``ccxt.binance`` object making the same three calls with the same parameters.
Rounds rotate the sides' order, so machine noise hits all alike. Prints the median
time per order for each and the median per-round ratio client/raw: what an order
costs through the connector against plain ccxt. Nothing leaves the process.

The client gives its ccxt exchange a :class:`~qmtl_ccxt_common.session.CcxtSession`
(requests' preparation done directly for ccxt's finished requests), so a third side,
bare ccxt on that same session, shows apart what the connector's safety net itself
costs (client/raw on one session) and what the session saves (raw on it/raw).

Aim: client/raw <= 1.02. Exit status 1 when the aim is missed or something is
functionally wrong (an order missing, duplicated or left open).

    .venv/bin/python benchmarks/bench_ccxt_orders.py --orders 200
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import ccxt

from qmtl_ccxt_common.products import SPOT
from qmtl_ccxt_common.recorded import OFFLINE_API_KEY, OFFLINE_SECRET, binance_spot
from qmtl_ccxt_common.session import install
from qmtl_core import CcxtBrokerageClient, OrderStatus

SYMBOL = "BTC/USDT"
ROUNDS = 10
AIM = 1.02


def client_flow(client: CcxtBrokerageClient) -> Callable[[str], None]:
    def run(client_order_id: str) -> None:
        ack = client.post_order(
            {
                "symbol": SYMBOL,
                "side": "BUY",
                "type": "limit",
                "quantity": "0.001",
                "limit_price": "10000",
                "time_in_force": "GTC",
                "client_order_id": client_order_id,
            }
        )
        client.poll_order_status(ack)
        if client.cancel_order(ack).status is not OrderStatus.CANCELED:
            raise SystemExit(f"order {client_order_id} not canceled")

    return run


def raw_flow(exchange: Any) -> Callable[[str], None]:
    def run(client_order_id: str) -> None:
        params = {"clientOrderId": client_order_id, "timeInForce": "GTC"}
        order = exchange.create_order(SYMBOL, "limit", "buy", 0.001, 10000, params)
        exchange.fetch_order(order["id"], SYMBOL)
        if exchange.cancel_order(order["id"], SYMBOL)["status"] != "canceled":
            raise SystemExit(f"order {client_order_id} not canceled")

    return run


def bare_exchange() -> Any:
    """A plain ``ccxt.binance`` on the recorded sandbox, its markets loaded."""
    exchange = ccxt.binance(
        {
            "apiKey": OFFLINE_API_KEY,
            "secret": OFFLINE_SECRET,
            "enableRateLimit": False,
            "options": dict(SPOT.defaults),
        }
    )
    exchange.set_sandbox_mode(True)
    exchange.load_markets()
    return exchange


def median_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of the per-round ratios (each round's sides ran back to back)."""
    return statistics.median(n / d for n, d in zip(numerators, denominators, strict=True))


def timed(flow: Callable[[str], None], tag: str, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        flow(f"{tag}{i:06d}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200, help="orders per side")
    args = parser.parse_args()
    per_round = max(1, args.orders // ROUNDS)
    with binance_spot() as venue:
        # A speed test, not a rate-limit test: both sides make thousands of calls, so
        # the venue's limits are raised far out of reach; the client's budget still runs.
        limits = venue.data["exchangeInfo"]["rateLimits"]
        venue.set_rate_limits([{**limit, "limit": limit["limit"] * 1000} for limit in limits])
        client = CcxtBrokerageClient(
            "binance",
            apiKey=OFFLINE_API_KEY,
            secret=OFFLINE_SECRET,
            sandbox=True,
            enableRateLimit=False,
        )
        exchange, on_session = bare_exchange(), bare_exchange()
        install(on_session)
        flows = {
            "client": client_flow(client),
            "raw": raw_flow(exchange),
            "session": raw_flow(on_session),
        }
        for name, flow in flows.items():  # warm-up: markets, imports, caches
            timed(flow, f"warm{name}", 5)
        # Everything loaded so far (ccxt's markets above all) leaves the collector's
        # view: a full collection walks it for ~100 ms here, and would land on whichever
        # side's round happened to trigger it.
        gc.freeze()
        seconds: dict[str, list[float]] = {name: [] for name in flows}
        names = list(flows)
        for r in range(ROUNDS):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                flow = flows[name]
                seconds[name].append(timed(flow, f"{name}{r:02d}-", per_round) / per_round)
        total = (ROUNDS * per_round + 5) * len(flows)
        if len(venue.orders) != total or any(o.status != "CANCELED" for o in venue.orders.values()):
            print(f"FAIL: expected {total} canceled orders, venue has {len(venue.orders)}")
            return 1
    client_ms, raw_ms, session_ms = (
        statistics.median(seconds[name]) * 1000 for name in ("client", "raw", "session")
    )
    count = ROUNDS * per_round
    print(f"orders per side          {count} (place + poll + cancel), {ROUNDS} rounds")
    print(f"bare ccxt                median {raw_ms:7.3f} ms per order")
    print(f"bare ccxt, CcxtSession   median {session_ms:7.3f} ms per order")
    print(f"CcxtBrokerageClient      median {client_ms:7.3f} ms per order")
    ratio = median_ratio(seconds["client"], seconds["raw"])
    own = median_ratio(seconds["client"], seconds["session"])
    saved = median_ratio(seconds["session"], seconds["raw"])
    print(f"safety net, one session  {own:7.3f}x  (client/bare ccxt, both on CcxtSession)")
    print(f"session saves            {saved:7.3f}x  (bare ccxt on CcxtSession/bare ccxt)")
    print(f"ratio client/raw         {ratio:7.3f}x  ({client_ms - raw_ms:+.3f} ms; aim <= {AIM})")
    if ratio > AIM:
        print(f"MISSED: the client costs {ratio:.3f}x bare ccxt, aim {AIM}x")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
