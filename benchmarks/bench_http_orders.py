"""HttpBrokerageClient.post_order against bare HTTP loops, same server, same run.

Starts the reference broker on 127.0.0.1 and posts N orders through the client and N
of the same payloads (same JSON body, same ``Idempotency-Key`` header) with three bare
keep-alive loops: ``http.client.HTTPConnection`` (the floor: the wire's round trip
plus the least a Python program can do), a urllib3 pool (what requests is built on)
and ``requests.Session().post``. Each loop parses the JSON answer. The loops run
interleaved in rounds, in a rotating order, so machine noise hits them alike; the
ratios are medians of the per-round ratios.

Aim: client / bare http.client <= 1.5. Exit status 1 when the aim is missed or
something is functionally wrong (an order missing, duplicated or not filled).

    .venv/bin/python benchmarks/bench_http_orders.py --orders 2000
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from qmtl_core import HttpBrokerageClient, OrderStatus, runtime
from qmtl_plugin_http.server import BrokerServer

SYMBOL = "BTC/USDT"
AIM = 1.5
ROUNDS = 20
WARMUP = 50
FLOOR = "http.client"

Batch = list[dict[str, Any]]
Loop = Callable[[Batch], None]


def payloads(tag: str, count: int) -> Batch:
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


def _check(name: str, status: int, body: bytes) -> None:
    if status != 201 or json.loads(body)["status"] != "filled":
        raise SystemExit(f"{name} POST failed: HTTP {status} {body[:200]!r}")


def http_client_loop(url: str) -> Loop:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname or "", parts.port, timeout=runtime.HTTP_TIMEOUT_SECONDS
    )

    def run(batch: Batch) -> None:
        for payload in batch:
            conn.request(
                "POST",
                parts.path,
                body=json.dumps(payload).encode(),
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": payload["client_order_id"],
                },
            )
            resp = conn.getresponse()
            _check(FLOOR, resp.status, resp.read())

    return run


def urllib3_loop(url: str) -> Loop:
    pool = urllib3.PoolManager(maxsize=1, retries=False)

    def run(batch: Batch) -> None:
        for payload in batch:
            resp = pool.request(
                "POST",
                url,
                body=json.dumps(payload).encode(),
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": payload["client_order_id"],
                },
                timeout=runtime.HTTP_TIMEOUT_SECONDS,
                redirect=False,
            )
            _check("urllib3", resp.status, resp.data)

    return run


def requests_loop(url: str) -> Loop:
    session = requests.Session()

    def run(batch: Batch) -> None:
        for payload in batch:
            resp = session.post(
                url,
                json=payload,
                headers={"Idempotency-Key": payload["client_order_id"]},
                timeout=runtime.HTTP_TIMEOUT_SECONDS,
            )
            _check("requests", resp.status_code, resp.content)

    return run


def client_loop(client: HttpBrokerageClient) -> Loop:
    def run(batch: Batch) -> None:
        for payload in batch:
            ack = client.post_order(payload)
            if ack.status is not OrderStatus.FILLED:
                raise SystemExit(f"client order {ack.client_order_id} is {ack.status}")

    return run


def timed(run: Loop, batch: Batch) -> float:
    start = time.perf_counter()
    run(batch)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000, help="orders per loop (>= 1)")
    args = parser.parse_args(argv)
    n = args.orders
    if n < ROUNDS:
        parser.error(f"--orders must be >= {ROUNDS}")

    with BrokerServer(prices={SYMBOL: 50000}) as server:
        client = HttpBrokerageClient(server.url, max_retries=3, backoff=0.1)
        loops: dict[str, Loop] = {
            FLOOR: http_client_loop(server.url),
            "urllib3": urllib3_loop(server.url),
            "requests": requests_loop(server.url),
            "client": client_loop(client),
        }
        orders = {name: payloads(f"{i}-", n + WARMUP) for i, name in enumerate(loops)}
        for name, run in loops.items():
            run(orders[name][:WARMUP])
        per_order: dict[str, list[float]] = {name: [] for name in loops}
        names = list(loops)
        for r in range(ROUNDS):
            lo, hi = WARMUP + n * r // ROUNDS, WARMUP + n * (r + 1) // ROUNDS
            for name in names[r % len(names) :] + names[: r % len(names)]:
                per_order[name].append(timed(loops[name], orders[name][lo:hi]) / (hi - lo))
        held = server.order_count
        client.close()

    expected = len(loops) * (n + WARMUP)
    print(f"reference broker on 127.0.0.1, {n} orders per loop, {ROUNDS} interleaved rounds")
    for name, times in per_order.items():
        median = statistics.median(times)
        print(f"  {name:<12} median {median * 1e6:7.1f} us/order  ({1 / median:7.0f} orders/s)")

    def ratio(name: str) -> float:
        return statistics.median(
            a / b for a, b in zip(per_order[name], per_order[FLOOR], strict=True)
        )

    client_ratio = ratio("client")
    print(f"ratio client/bare {FLOOR}: {client_ratio:.3f} (aim <= {AIM:.2f})")
    for name in ("urllib3", "requests"):
        print(f"ratio bare {name}/bare {FLOOR}: {ratio(name):.3f} (context)")
    print(f"ratio client/bare requests: {client_ratio / ratio('requests'):.3f} (context)")
    if held != expected:
        print(f"ERROR: the broker holds {held} orders, expected {expected}", file=sys.stderr)
        return 1
    if client_ratio > AIM:
        print(f"MISSED: the client costs {client_ratio:.2f}x a bare {FLOOR} round trip")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
