"""WebSocketFeed against a bare websocket-client loop, in the same run: rate and latency.

The local gateway (127.0.0.1, started here) streams M small JSON price events as fast
as TCP accepts them. We time (a) a bare loop that ``recv()``s and ``json.loads`` each
frame and (b) WebSocketFeed delivering each message to an async ``on_message``. Every
loop checks the sequence numbers, so a lost, doubled or reordered message fails the run.
Runs are interleaved in rotating order; the rate ratio is the median of per-round ratios.

The reference bare loop is websocket-client at its fastest: a blocking socket and
``skip_utf8_validation=True`` (json.loads validates the text anyway). The bare loop with
the library's defaults, which validates UTF-8 in pure Python, is printed for context.

Latency: one message in flight at a time, stamped by the producer just before the
gateway sends it; the time to the bare loop's ``recv()`` + ``json.loads`` and to the
feed's ``on_message`` is collected over L messages each (interleaved) and printed at
p50 and p99, with the feed/bare ratios.

Aim: the feed delivers at least 90% of the reference rate; exit status 1 when missed
or when a message is lost, doubled or reordered.

    .venv/bin/python benchmarks/bench_ws_feed.py [--messages M] [--rounds N] [--latency L]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import websocket

from qmtl_plugin_websocket.feed import WebSocketFeed
from qmtl_plugin_websocket.gateway import Gateway

TOKEN = "bench-token"
AIM = 0.90
LATENCY_ROUNDS = 4
DEADLINE_SECONDS = 120.0
REFERENCE = "bare loop (skip_utf8_validation=True)"
DEFAULTS = "bare loop (websocket-client defaults)"
FEED = "WebSocketFeed -> async on_message"


class Mismatch(Exception):
    """The stream did not arrive complete and in order."""


def _watchdog(signum: int, frame: object) -> None:
    """The blocking bare loop has no timeout of its own (a timeout slows it down)."""
    raise Mismatch(f"a run took longer than {DEADLINE_SECONDS:.0f}s")


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise Mismatch(f"timed out waiting for {what}")
        time.sleep(0.001)


def bare(gateway: Gateway, messages: int, **options: Any) -> float:
    """Messages per second of recv() + json.loads with websocket-client alone."""
    ws = websocket.create_connection(
        gateway.url, header={"Authorization": f"Bearer {TOKEN}"}, **options
    )
    try:
        wait_until(lambda: gateway.open_connections == 1, "the bare client to register")
        out_of_order = 0
        start = time.perf_counter()
        gateway.stream(messages)
        for seq in range(messages):
            if json.loads(ws.recv())["seq"] != seq:
                out_of_order += 1
        elapsed = time.perf_counter() - start
    finally:
        ws.close()
    wait_until(lambda: gateway.open_connections == 0, "the bare client to leave")
    if out_of_order:
        raise Mismatch(f"bare loop: {out_of_order} messages out of order")
    return messages / elapsed


async def feed(gateway: Gateway, messages: int) -> float:
    """Messages per second WebSocketFeed delivers to an async on_message."""
    done = asyncio.Event()
    count = 0
    out_of_order = 0

    async def on_message(message: dict[str, Any]) -> None:
        nonlocal count, out_of_order
        if message["seq"] != count:
            out_of_order += 1
        count += 1
        if count == messages:
            done.set()

    client = WebSocketFeed(gateway.url, on_message=on_message, token=TOKEN)
    await client.start()
    try:
        wait_until(lambda: gateway.open_connections == 1, "the feed to register")
        start = time.perf_counter()
        gateway.stream(messages)
        await asyncio.wait_for(done.wait(), DEADLINE_SECONDS)
        elapsed = time.perf_counter() - start
    finally:
        await client.stop()
    wait_until(lambda: gateway.open_connections == 0, "the feed to leave")
    stats = client.stats
    if out_of_order or stats.delivered != messages or stats.dropped:
        raise Mismatch(
            f"feed: delivered {stats.delivered}/{messages}, {out_of_order} out of order, "
            f"{stats.dropped} dropped"
        )
    if stats.peak_queued > client.queue_size:
        raise Mismatch(f"feed held {stats.peak_queued} > queue_size {client.queue_size}")
    return messages / elapsed


def bare_latency(gateway: Gateway, count: int, **options: Any) -> list[float]:
    """Seconds from the producer's send to the bare loop's parsed message, one at a time."""
    ws = websocket.create_connection(
        gateway.url, header={"Authorization": f"Bearer {TOKEN}"}, **options
    )
    samples = []
    try:
        wait_until(lambda: gateway.open_connections == 1, "the bare client to register")
        for seq in range(count):
            gateway.broadcast({"event": "price", "seq": seq, "sent": time.perf_counter()})
            message = json.loads(ws.recv())
            samples.append(time.perf_counter() - message["sent"])
            if message["seq"] != seq:
                raise Mismatch(f"bare latency loop: got seq {message['seq']}, expected {seq}")
    finally:
        ws.close()
    wait_until(lambda: gateway.open_connections == 0, "the bare client to leave")
    return samples


async def feed_latency(gateway: Gateway, count: int) -> list[float]:
    """Seconds from the producer's send to the feed's ``on_message``, one at a time."""
    samples: list[float] = []
    arrived = asyncio.Event()

    async def on_message(message: dict[str, Any]) -> None:
        samples.append(time.perf_counter() - message["sent"])
        if message["seq"] != len(samples) - 1:
            raise Mismatch(f"feed latency loop: got seq {message['seq']}")
        arrived.set()

    client = WebSocketFeed(gateway.url, on_message=on_message, token=TOKEN)
    await client.start()
    try:
        wait_until(lambda: gateway.open_connections == 1, "the feed to register")
        for seq in range(count):
            arrived.clear()
            gateway.broadcast({"event": "price", "seq": seq, "sent": time.perf_counter()})
            await asyncio.wait_for(arrived.wait(), DEADLINE_SECONDS)
    finally:
        await client.stop()
    wait_until(lambda: gateway.open_connections == 0, "the feed to leave")
    if client.stats.handler_errors or len(samples) != count:
        raise Mismatch(f"feed latency loop: {len(samples)}/{count} messages, out of order")
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(args: argparse.Namespace) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Rates per round and latency samples, every loop interleaved with the others."""
    rates: dict[str, list[float]] = {REFERENCE: [], FEED: [], DEFAULTS: []}
    latency: dict[str, list[float]] = {REFERENCE: [], FEED: []}
    runs: dict[str, Callable[[Gateway], float]] = {
        REFERENCE: lambda g: bare(g, args.messages, skip_utf8_validation=True),
        FEED: lambda g: asyncio.run(feed(g, args.messages)),
        DEFAULTS: lambda g: bare(g, args.messages),
    }
    names = list(runs)
    each = max(1, args.latency // LATENCY_ROUNDS)
    with Gateway(TOKEN) as gateway:
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                rates[name].append(runs[name](gateway))
        for r in range(LATENCY_ROUNDS):
            first, second = (REFERENCE, FEED) if r % 2 == 0 else (FEED, REFERENCE)
            for name in (first, second):
                if name == FEED:
                    latency[name] += asyncio.run(feed_latency(gateway, each))
                else:
                    latency[name] += bare_latency(gateway, each, skip_utf8_validation=True)
    return rates, latency


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000, help="messages per run (M)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of each loop")
    parser.add_argument("--latency", type=int, default=2000, help="latency samples per loop")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGALRM, _watchdog)
    signal.alarm(int(DEADLINE_SECONDS * 3 * (args.rounds + 1)))
    try:
        rates, latency = measure(args)
    except (Mismatch, TimeoutError, OSError, websocket.WebSocketException) as exc:
        print(f"FAILED: {exc!r}")
        return 1
    finally:
        signal.alarm(0)

    def ratio(name: str, base: str = REFERENCE) -> float:
        return statistics.median(a / b for a, b in zip(rates[name], rates[base], strict=True))

    print(f"messages per run: {args.messages}, {args.rounds} interleaved rounds (msg/s)")
    for name, runs in rates.items():
        listed = ", ".join(f"{rate:,.0f}" for rate in runs)
        print(f"  {name:<44} median {statistics.median(runs):>9,.0f}   runs: {listed}")
    rate_ratio = ratio(FEED)
    print(f"ratio feed / reference bare loop: {rate_ratio:.2f} (aim >= {AIM:.2f})")
    print(f"ratio feed / bare loop, defaults: {ratio(FEED, DEFAULTS):.2f} (context)")
    print(f"latency, producer send -> message in hand, {len(latency[FEED])} messages each:")
    for name, samples in latency.items():
        p50, p99 = percentile(samples, 0.50), percentile(samples, 0.99)
        print(f"  {name:<44} p50 {p50 * 1e6:8.1f} us   p99 {p99 * 1e6:8.1f} us")
    for label, fraction in (("p50", 0.50), ("p99", 0.99)):
        feed_at = percentile(latency[FEED], fraction)
        bare_at = percentile(latency[REFERENCE], fraction)
        print(f"ratio feed / reference bare loop, latency {label}: {feed_at / bare_at:.2f}")
    if rate_ratio < AIM:
        print(f"MISSED: the feed delivers {rate_ratio:.0%} of the bare rate, aim {AIM:.0%}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
