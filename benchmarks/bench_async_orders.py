"""Orders per second through the async twin vs the same client through threads.

The reference broker runs in its own process on 127.0.0.1 (``qmtl_plugin_http.child``),
so its threads do not compete with the client for the interpreter lock. For 1, 10 and
100 concurrent senders, N market orders go through ``AsyncBrokerage(client)`` from
that many coroutines on one event loop, and through ``client.post_order`` from that
many threads. Async and thread runs alternate over several rounds so machine noise
hits them alike; the figures are medians, the ratios medians of per-round ratios. The
async run also records the loop's scheduling lag (a probe task sleeping 2 ms).

Aim: at 10 concurrent senders, async / threads >= 0.5. The HTTP connector's async
twin makes each request on one of the bounded pool's ``runtime.ASYNC_IO_THREADS`` (8)
workers, so it cannot beat 10 free threads; the aim bounds what the event-loop driver
(one hop per step) may cost on top of that. 100 senders are reported, not judged:
there threads get 100 workers and the twin stays at 8 by design (a small pool keeps
the loop's lag low). Exit status 1 when the aim is missed or an order is missing or
doubled at the broker.

    .venv/bin/python benchmarks/bench_async_orders.py --orders 600
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from qmtl_core import OrderStatus
from qmtl_core.aio import AsyncBrokerage
from qmtl_plugin_http.client import HttpBrokerageClient

SYMBOL = "BTC/USDT"
CONCURRENCY = (1, 10, 100)
ROUNDS = 3
AIM = 0.5
AIM_AT = 10


def order(tag: str, i: int) -> dict[str, Any]:
    return {
        "symbol": SYMBOL,
        "side": "BUY",
        "type": "market",
        "quantity": "0.01",
        "client_order_id": f"{tag}-{i:07d}",
    }


def _filled(status: OrderStatus, coid: str) -> None:
    if status is not OrderStatus.FILLED:
        raise SystemExit(f"order {coid} is {status}")


def with_threads(client: HttpBrokerageClient, tag: str, n: int, senders: int) -> float:
    """Seconds for ``n`` orders from ``senders`` threads."""
    todo = iter(range(n))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def sender() -> None:
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            try:
                _filled(client.post_order(order(tag, i)).status, f"{tag}-{i}")
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"thread sender failed: {errors[0]!r}")
    return elapsed


def with_coroutines(
    twin: AsyncBrokerage, tag: str, n: int, senders: int
) -> tuple[float, list[float]]:
    """Seconds for ``n`` orders from ``senders`` coroutines, and the loop's lags."""

    async def run() -> tuple[float, list[float]]:
        todo = iter(range(n))
        lags: list[float] = []
        done = asyncio.Event()

        async def probe() -> None:
            while not done.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.002)
                lags.append(time.perf_counter() - t - 0.002)

        async def sender() -> None:
            for i in todo:
                ack = await twin.post_order(order(tag, i))
                _filled(ack.status, ack.client_order_id)

        prober = asyncio.ensure_future(probe())
        start = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        elapsed = time.perf_counter() - start
        done.set()
        await prober
        return elapsed, lags

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=600, help="orders per run (>= 100)")
    args = parser.parse_args(argv)
    n = args.orders
    if n < max(CONCURRENCY):
        parser.error(f"--orders must be >= {max(CONCURRENCY)}")
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # "pool is full" at 100 threads

    broker = subprocess.Popen(
        [sys.executable, "-m", "qmtl_plugin_http.child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert broker.stdin is not None and broker.stdout is not None
    url = broker.stdout.readline().strip()
    rates: dict[tuple[str, int], list[float]] = {}
    ratios: dict[int, list[float]] = {c: [] for c in CONCURRENCY}
    lags: dict[int, list[float]] = {c: [] for c in CONCURRENCY}
    sent = 0
    try:
        with HttpBrokerageClient(url, max_retries=3, backoff=0.1) as client:
            twin = AsyncBrokerage(client)
            with_threads(client, "warm-t", 20, 4)
            with_coroutines(twin, "warm-a", 20, 4)
            sent += 40
            for r in range(ROUNDS):
                for c in CONCURRENCY:
                    a_secs, a_lags = with_coroutines(twin, f"a{r}-{c}", n, c)
                    t_secs = with_threads(client, f"t{r}-{c}", n, c)
                    sent += 2 * n
                    rates.setdefault(("async", c), []).append(n / a_secs)
                    rates.setdefault(("threads", c), []).append(n / t_secs)
                    ratios[c].append(t_secs / a_secs)
                    lags[c].extend(a_lags)
    finally:
        out, _ = broker.communicate(timeout=60)
    held = int(out.strip())

    print(f"reference broker in its own process on 127.0.0.1, {n} orders per run, {ROUNDS} rounds")
    for c in CONCURRENCY:
        a, t = statistics.median(rates[("async", c)]), statistics.median(rates[("threads", c)])
        p99 = statistics.quantiles(lags[c], n=100)[98] * 1e3 if len(lags[c]) > 1 else 0.0
        print(
            f"  {c:>3} senders: async {a:7.0f} orders/s, threads {t:7.0f} orders/s, "
            f"ratio async/threads {statistics.median(ratios[c]):.3f}; "
            f"loop lag p99 {p99:.2f} ms"
        )
    ratio = statistics.median(ratios[AIM_AT])
    print(f"ratio async/threads at {AIM_AT} senders: {ratio:.3f} (aim >= {AIM:.2f})")
    if held != sent:
        print(f"ERROR: the broker holds {held} orders, expected {sent}", file=sys.stderr)
        return 1
    if ratio < AIM:
        print(f"MISSED: async reaches {ratio:.2f}x the threads' rate at {AIM_AT} senders")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
