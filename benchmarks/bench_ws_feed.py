"""WebSocketFeed delivery rate against a bare websocket-client loop, in the same run.

The local gateway (127.0.0.1, started here) streams M small JSON price events as fast
as TCP accepts them. We time (a) a bare loop that ``recv()``s and ``json.loads`` each
frame and (b) WebSocketFeed delivering each message to an async ``on_message``. Every
loop checks the sequence numbers, so a lost, doubled or reordered message fails the run.

The reference bare loop is websocket-client at its fastest: a blocking socket and
``skip_utf8_validation=True`` (json.loads validates the text anyway). The bare loop with
the library's defaults, which validates UTF-8 in pure Python, is printed for context.
Aim: the feed delivers at least 80% of the reference rate.

    .venv/bin/python benchmarks/bench_ws_feed.py [--messages M] [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import websocket

from qmtl_plugin_websocket.feed import WebSocketFeed
from qmtl_plugin_websocket.gateway import Gateway

TOKEN = "bench-token"
AIM = 0.80
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages per run (M)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    args = parser.parse_args(argv)
    rates: dict[str, list[float]] = {REFERENCE: [], DEFAULTS: [], FEED: []}
    signal.signal(signal.SIGALRM, _watchdog)
    signal.alarm(int(DEADLINE_SECONDS * 3 * args.repeat))
    try:
        with Gateway(TOKEN) as gateway:
            for _ in range(args.repeat):
                rates[REFERENCE].append(bare(gateway, args.messages, skip_utf8_validation=True))
                rates[FEED].append(asyncio.run(feed(gateway, args.messages)))
                rates[DEFAULTS].append(bare(gateway, args.messages))
    except (Mismatch, TimeoutError, OSError, websocket.WebSocketException) as exc:
        print(f"FAILED: {exc!r}")
        return 1
    finally:
        signal.alarm(0)
    best = {name: max(runs) for name, runs in rates.items()}
    ratio = best[FEED] / best[REFERENCE]
    print(f"messages per run: {args.messages}, best of {args.repeat} runs (msg/s)")
    for name, runs in rates.items():
        listed = ", ".join(f"{rate:,.0f}" for rate in runs)
        print(f"  {name:<44} {best[name]:>10,.0f}   runs: {listed}")
    print(f"ratio feed / reference bare loop: {ratio:.2f} (aim >= {AIM:.2f})")
    print(f"ratio feed / bare loop, defaults: {best[FEED] / best[DEFAULTS]:.2f}")
    if ratio < AIM:
        print(f"WARNING: the feed delivers {ratio:.0%} of the bare rate, under the {AIM:.0%} aim")
    return 0


if __name__ == "__main__":
    sys.exit(main())
