"""A fast producer and a slow consumer: the feed holds a bounded number of messages and
TCP pushes back on the producer; once the consumer catches up, everything arrives in order."""

from __future__ import annotations

import asyncio
from typing import Any

from qmtl_core.testing import until
from qmtl_core.testing.scenarios import run_with_deadline as run
from qmtl_plugin_websocket.feed import WebSocketFeed
from qmtl_plugin_websocket.gateway import Gateway

from .conftest import TOKEN

QUEUE_SIZE = 50
COUNT = 30_000
PAD = 1000  # ~1 KiB messages: 30 MB in all, far more than loopback socket buffers hold


def test_a_slow_consumer_blocks_the_reader_and_memory_stays_bounded(gateway: Gateway) -> None:
    seen: list[int] = []

    async def scenario() -> None:
        gate = asyncio.Event()

        async def slow(evt: dict[str, Any]) -> None:
            await gate.wait()
            seen.append(evt["seq"])

        feed = WebSocketFeed(gateway.url, on_message=slow, token=TOKEN, queue_size=QUEUE_SIZE)
        async with feed:
            gateway.wait_for_connections()
            gateway.stream(COUNT, pad=PAD)
            await until(lambda: feed.stats.queued == QUEUE_SIZE)
            await until(lambda: gateway.write_backlog > 0)  # the producer is held back by TCP
            held = feed.stats
            assert gateway.messages_sent < COUNT
            # Decoded and held: the full hand-off plus the one message the reader waits with.
            assert held.received <= QUEUE_SIZE + 1
            assert held.delivered == 0
            gate.set()
            await until(lambda: len(seen) == COUNT, timeout=30)
            done = feed.stats
        assert done.peak_queued == QUEUE_SIZE
        assert (done.received, done.delivered, done.reconnects) == (COUNT, COUNT, 0)

    run(scenario())
    assert seen == list(range(COUNT))
