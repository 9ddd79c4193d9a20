"""The ccxt feed's trade rate and latency against a bare ccxt.pro ``watch_trades`` loop.

Both run in the same process against the loopback Binance stand-in (started here), on
the real ccxt.pro ``binance`` class: (a) a bare loop awaiting ``watch_trades`` and
counting, (b) CcxtStreamFeed delivering each trade, as a Decimal-priced message, to an
async ``on_message``. Throughput: M trades published as fast as TCP accepts them, time
from the first publish to the last trade received, best of N. Latency: trades published
1 ms apart, time from the stand-in writing a frame to the consumer seeing it. Every
consumer checks the trade ids arrive in order; the feed must lose none. The bare loop
may lose trades: when more arrive between two ``watch_trades`` calls than ccxt's trade
cache holds (1000), the oldest are gone; its rate counts only what it received, and
the losses are printed.
Aim: the feed delivers at least 90% of the bare loop's rate.

OCO reaction: a manual OCO pair on the ccxt spot brokerage (REST: the recorded Binance
venue; user-data stream: the stand-in); one leg fills, and the time from the fill to
the venue receiving the sibling's cancel request is measured, with ``stream_orders``
(the fill's execution report is pushed) and without (the watcher polls every
``--poll-interval`` seconds, OCOOrder's default). Reported: median and worst of
``--oco-runs`` pairs each.

    .venv/bin/python benchmarks/bench_ccxt_stream.py [--messages M] [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ccxt.pro

from qmtl_ccxt_common.products import SPOT
from qmtl_ccxt_common.recorded import OFFLINE_API_KEY, OFFLINE_SECRET, binance_spot
from qmtl_core.oco import OCOOrder
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient
from qmtl_plugin_ccxt_stream.feed import CcxtStreamFeed
from qmtl_plugin_ccxt_stream.testing import BinanceStandIn

AIM = 0.90
SYMBOL = "BTC/USDT"
STREAM = "btcusdt@trade"
LATENCY_MESSAGES = 500
BARE = "bare ccxt.pro watch_trades loop"
FEED = "CcxtStreamFeed -> on_message"
Consumer = Callable[[BinanceStandIn, int, int, list[float]], Awaitable[None]]


class Mismatch(Exception):
    """A consumer saw a trade out of order, twice, or missed one."""


async def until_subscribed(venue: BinanceStandIn) -> None:
    deadline = time.monotonic() + 10
    while venue.listeners(STREAM) < 1:
        if time.monotonic() > deadline:
            raise TimeoutError("no subscription at the stand-in")
        await asyncio.sleep(0.005)


LOST: dict[str, int] = {}


def checker(
    first_id: int, count: int, seen: list[float], *, lossy: str = ""
) -> tuple[Callable[[int], None], asyncio.Event]:
    """``see(trade_id)`` records its arrival time; the event fires after the last one.

    With ``lossy`` (a consumer's name) skipped ids are counted in LOST instead of failing.
    """
    expected = first_id
    done = asyncio.Event()

    def see(trade_id: int) -> None:
        nonlocal expected
        if trade_id != expected:
            if not lossy or trade_id < expected:
                raise Mismatch(f"expected trade {expected}, got {trade_id}")
            LOST[lossy] = LOST.get(lossy, 0) + trade_id - expected
            seen.extend([float("nan")] * (trade_id - expected))
            expected = trade_id
        seen.append(time.perf_counter())
        expected += 1
        if expected == first_id + count:
            done.set()

    return see, done


async def bare(venue: BinanceStandIn, first_id: int, count: int, seen: list[float]) -> None:
    options = dict(SPOT.defaults)  # the markets the feed loads: spot only
    exchange = ccxt.pro.binance(
        {"urls": venue.urls(), "enableRateLimit": False, "options": options}
    )
    see, done = checker(first_id, count, seen, lossy=BARE)

    async def loop() -> None:
        while not done.is_set():
            for trade in await exchange.watch_trades(SYMBOL):
                see(int(trade["id"]))

    try:
        await exchange.load_markets()
        task = asyncio.create_task(loop())
        await until_subscribed(venue)
        await publish_and_wait(venue, first_id, count, done, task)
    finally:
        await exchange.close()


async def feed(venue: BinanceStandIn, first_id: int, count: int, seen: list[float]) -> None:
    see, done = checker(first_id, count, seen)

    async def on_message(message: dict[str, Any]) -> None:
        see(int(message["id"]))

    stream = CcxtStreamFeed(
        "binance", on_message, symbols=[SYMBOL], urls=venue.urls(), enableRateLimit=False
    )
    async with stream:
        await until_subscribed(venue)
        await publish_and_wait(venue, first_id, count, done, None)
        if stream.error is not None:
            raise stream.error


SENT: list[float] = []
PAUSE = 0.0


async def publish_and_wait(
    venue: BinanceStandIn,
    first_id: int,
    count: int,
    done: asyncio.Event,
    task: asyncio.Task[None] | None,
) -> None:
    SENT[:] = await venue.trades(SYMBOL, count, first_id=first_id, pause=PAUSE)
    waiter = asyncio.ensure_future(done.wait())
    try:
        watched = [waiter] if task is None else [waiter, task]
        await asyncio.wait(watched, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if task is not None and task.done():
            task.result()  # a Mismatch in the bare loop
        if not done.is_set():
            raise Mismatch("not every trade arrived within 60 s")
    finally:
        waiter.cancel()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def measure(
    consumer: Consumer, venue: BinanceStandIn, first_id: int, count: int
) -> list[float]:
    seen: list[float] = []
    started = time.perf_counter()
    await consumer(venue, first_id, count, seen)
    seen.insert(0, started)
    return seen


def oco_reactions(pushed: bool, runs: int, poll_interval: float) -> list[float]:
    """Seconds from a leg's fill to the sibling's cancel request, per OCO pair."""
    reactions = []
    standin = BinanceStandIn(api_key=OFFLINE_API_KEY, secret=OFFLINE_SECRET)
    with binance_spot() as rest, standin as ws:
        client = CcxtBrokerageClient(
            "binance",
            apiKey=OFFLINE_API_KEY,
            secret=OFFLINE_SECRET,
            stream_orders=pushed,
            urls=ws.ws_urls(),
        )
        try:
            stream = client.order_stream
            deadline = time.monotonic() + 10
            while stream is not None and not stream.current:
                if time.monotonic() > deadline:
                    raise TimeoutError("the order stream did not subscribe")
                time.sleep(0.005)
            for _ in range(runs):
                reactions.append(oco_reaction(client, rest, ws, pushed, poll_interval))
        finally:
            client.close()
    return reactions


def oco_reaction(
    client: CcxtBrokerageClient, rest: Any, ws: BinanceStandIn, pushed: bool, interval: float
) -> float:
    leg = {"symbol": SYMBOL, "side": "SELL", "type": "limit", "quantity": "0.001"}
    oco = OCOOrder(
        {**leg, "limit_price": "40000"}, {**leg, "limit_price": "20000.01"}, poll_interval=interval
    )
    filled, _ = oco.execute(client)
    cancels = len(rest.sent("DELETE", "order"))
    time.sleep(random.uniform(0, interval))  # the fill lands anywhere in a poll cycle
    try:
        rest.fill(filled.client_order_id)
        started = time.perf_counter()
        if pushed:
            asyncio.run(ws.report_order(rest.order(filled.client_order_id)))
        oco.wait(timeout=30)
    finally:
        oco.stop()
    return float(rest.sent("DELETE", "order")[cancels].at - started)


def main() -> int:
    global PAUSE
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--oco-runs", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    args = parser.parse_args()
    consumers: dict[str, Consumer] = {BARE: bare, FEED: feed}
    rates: dict[str, float] = {}
    latency: dict[str, list[float]] = {}
    first_id = 1
    with BinanceStandIn() as venue:
        for name, consumer in consumers.items():
            best = 0.0
            for _ in range(args.repeat):
                PAUSE = 0.0
                seen = asyncio.run(measure(consumer, venue, first_id, args.messages))
                first_id += args.messages
                elapsed = max(t for t in seen[1:] if t == t) - SENT[0]
                delivered = sum(1 for t in seen[1:] if t == t)  # NaN marks a lost trade
                best = max(best, delivered / elapsed)
            rates[name] = best
            PAUSE = 0.001
            seen = asyncio.run(measure(consumer, venue, first_id, LATENCY_MESSAGES))
            first_id += LATENCY_MESSAGES
            latency[name] = [
                (got - sent) * 1e6 for got, sent in zip(seen[1:], SENT, strict=True) if got == got
            ]
    reference = rates[BARE]
    print(
        f"{args.messages} trades per run, best of {args.repeat}; "
        f"latency over {LATENCY_MESSAGES} trades 1 ms apart"
    )
    for name, rate in rates.items():
        lat = sorted(latency[name])
        p99 = lat[int(len(lat) * 0.99) - 1]
        print(
            f"  {name:34s} {rate:10,.0f} msg/s  ratio {rate / reference:5.2f}  "
            f"latency median {statistics.median(lat):7.0f} us  p99 {p99:7.0f} us"
        )
    for name, lost in LOST.items():
        print(f"  {name} lost {lost} trades in all (ccxt's trade cache overflowed in a burst)")
    ratio = rates[FEED] / reference
    verdict = "meets" if ratio >= AIM else "MISSES"
    print(f"feed / bare = {ratio:.2f} ({verdict} the aim of {AIM:.2f})")
    print(
        f"OCO reaction, fill -> sibling's cancel request, {args.oco_runs} pairs each "
        f"(polling every {args.poll_interval} s):"
    )
    medians = {}
    for pushed in (False, True):
        times = oco_reactions(pushed, args.oco_runs, args.poll_interval)
        name = "pushed (stream_orders)" if pushed else "polled"
        medians[pushed] = statistics.median(times)
        print(
            f"  {name:34s} median {medians[pushed] * 1e3:8.1f} ms  worst {max(times) * 1e3:8.1f} ms"
        )
    print(f"polled / pushed median = {medians[False] / medians[True]:.0f}x")
    return 0 if ratio >= AIM else 1


if __name__ == "__main__":
    sys.exit(main())
