"""HttpBrokerageClient.post_order against a bare requests loop, same server, same run.

Starts the reference broker on 127.0.0.1, posts N orders through the client and N of
the same payloads with ``requests.Session().post`` (same JSON body, same
``Idempotency-Key`` header), interleaved in rounds so that machine noise hits both
alike. Prints both rates, the mean latency per order and the ratio client/raw.

Exit status is non-zero only when something is functionally wrong (an order missing,
duplicated or not filled); missing the 10% aim prints a WARNING.

    .venv/bin/python benchmarks/bench_http_orders.py --orders 2000
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
from collections.abc import Callable
from typing import Any

import requests

from qmtl_core import HttpBrokerageClient, OrderStatus, runtime
from qmtl_plugin_http.server import BrokerServer

SYMBOL = "BTC/USDT"
AIM = 1.10
ROUNDS = 10
WARMUP = 50


def payloads(tag: str, count: int) -> list[dict[str, Any]]:
    """Market orders that differ only in their client_order_id."""
    return [
        {
            "symbol": SYMBOL,
            "side": "BUY",
            "type": "market",
            "quantity": "0.01",
            "client_order_id": f"{tag}{i:07d}",
        }
        for i in range(count)
    ]


def raw_loop(session: requests.Session, url: str) -> Callable[[list[dict[str, Any]]], None]:
    def run(batch: list[dict[str, Any]]) -> None:
        for payload in batch:
            resp = session.post(
                url,
                json=payload,
                headers={"Idempotency-Key": payload["client_order_id"]},
                timeout=runtime.HTTP_TIMEOUT_SECONDS,
            )
            if resp.status_code != 201:
                raise SystemExit(f"raw POST failed: HTTP {resp.status_code} {resp.text}")

    return run


def client_loop(client: HttpBrokerageClient) -> Callable[[list[dict[str, Any]]], None]:
    def run(batch: list[dict[str, Any]]) -> None:
        for payload in batch:
            ack = client.post_order(payload)
            if ack.status is not OrderStatus.FILLED:
                raise SystemExit(f"client order {ack.client_order_id} is {ack.status}")

    return run


def timed(run: Callable[[list[dict[str, Any]]], None], batch: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    run(batch)
    return time.perf_counter() - start


def server_round_trip(server: BrokerServer, count: int = 500) -> float:
    """Mean seconds of a bare keep-alive GET: the floor both loops stand on."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=runtime.HTTP_TIMEOUT_SECONDS
    )
    path = f"{server.app.orders_path}/warm-raw-0000000"
    start = time.perf_counter()
    for _ in range(count):
        conn.request("GET", path)
        conn.getresponse().read()
    conn.close()
    return (time.perf_counter() - start) / count


def report(name: str, count: int, seconds: float) -> None:
    print(
        f"{name:<8} {count} orders in {seconds:.3f}s: {count / seconds:8.0f} orders/s, "
        f"mean {seconds / count * 1e6:7.1f} us/order"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000, help="orders per loop (>= 1)")
    args = parser.parse_args(argv)
    n = args.orders
    if n < 1:
        parser.error("--orders must be >= 1")

    with BrokerServer(prices={SYMBOL: 50000}) as server:
        client = HttpBrokerageClient(server.url, max_retries=3, backoff=0.1)
        raw = raw_loop(requests.Session(), server.url)
        cli = client_loop(client)
        raw(payloads("warm-raw-", WARMUP))
        cli(payloads("warm-cli-", WARMUP))

        raw_orders, cli_orders = payloads("raw-", n), payloads("cli-", n)
        raw_s = cli_s = 0.0
        for r in range(ROUNDS):
            lo, hi = n * r // ROUNDS, n * (r + 1) // ROUNDS
            if r % 2:  # alternate who goes first
                cli_s += timed(cli, cli_orders[lo:hi])
                raw_s += timed(raw, raw_orders[lo:hi])
            else:
                raw_s += timed(raw, raw_orders[lo:hi])
                cli_s += timed(cli, cli_orders[lo:hi])
        held = server.order_count
        floor = server_round_trip(server)
        client.close()

    expected = 2 * (n + WARMUP)
    print(f"reference broker on 127.0.0.1, {n} orders per loop, {ROUNDS} interleaved rounds")
    report("raw", n, raw_s)
    report("client", n, cli_s)
    print(f"server keep-alive round trip (http.client GET): {floor * 1e6:.1f} us")
    ratio = cli_s / raw_s
    print(f"ratio client/raw: {ratio:.3f} (aim <= {AIM:.2f})")
    if held != expected:
        print(f"ERROR: the broker holds {held} orders, expected {expected}", file=sys.stderr)
        return 1
    if ratio > AIM:
        print(f"WARNING: the client costs {100 * (ratio - 1):.0f}% over the raw loop")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
