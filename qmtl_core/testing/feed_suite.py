"""The feed conformance suite: ordered delivery, reconnects, contained errors, prompt stop.

Subclass it and provide a ``feed_source`` fixture (a :class:`FeedHarness`). Tests are
plain functions that run their own event loop, so no async test plugin is needed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from qmtl_core.testing.harness import FeedHarness, until
from qmtl_core.testing.scenarios import run_with_deadline

Scenario = Callable[[], Awaitable[None]]


def run(scenario: Scenario, timeout: float = 20.0) -> None:
    run_with_deadline(scenario(), timeout)


class FeedConformance:
    """Subclass with a ``feed_source`` fixture; every ``test_*`` here then runs."""

    @pytest.fixture
    def feed_source(self) -> FeedHarness:
        raise NotImplementedError("provide a 'feed_source' fixture (a FeedHarness)")

    def test_messages_arrive_once_in_order(self, feed_source: FeedHarness) -> None:
        received: list[int] = []

        async def on_message(evt: dict[str, Any]) -> None:
            received.append(evt["seq"])

        async def scenario() -> None:
            feed = feed_source.make_feed(on_message)
            await feed.start()
            try:
                for seq in range(200):
                    await feed_source.publish({"event": "queue_update", "seq": seq})
                await until(lambda: len(received) >= 200, what="200 messages")
            finally:
                await feed.stop()

        run(scenario)
        assert received == list(range(200))

    def test_handler_errors_are_contained(self, feed_source: FeedHarness) -> None:
        received: list[int] = []

        async def on_message(evt: dict[str, Any]) -> None:
            if evt["seq"] % 3 == 0:
                raise ValueError(f"bad message {evt['seq']}")
            received.append(evt["seq"])

        async def scenario() -> None:
            feed = feed_source.make_feed(on_message)
            await feed.start()
            try:
                for seq in range(10):
                    await feed_source.publish({"event": "queue_update", "seq": seq})
                await until(lambda: received[-1:] == [8], what="delivery past failing handlers")
            finally:
                await feed.stop()

        run(scenario)
        assert received == [1, 2, 4, 5, 7, 8]

    def test_messages_go_to_the_loop_that_started_the_feed(self, feed_source: FeedHarness) -> None:
        threads: set[int] = set()

        async def on_message(evt: dict[str, Any]) -> None:
            threads.add(threading.get_ident())

        async def scenario() -> None:
            feed = feed_source.make_feed(on_message)
            await feed.start()
            try:
                for seq in range(5):
                    await feed_source.publish({"event": "queue_update", "seq": seq})
                await until(lambda: bool(threads), what="a delivery")
            finally:
                await feed.stop()

        run(scenario)
        assert threads == {threading.get_ident()}

    def test_reconnect_resubscribes_and_awaits_on_reconnect(self, feed_source: FeedHarness) -> None:
        received: list[int] = []
        reconnects: list[int] = []
        subscription = {"op": "subscribe", "channel": "prices"}

        async def on_message(evt: dict[str, Any]) -> None:
            if "seq" in evt:
                received.append(evt["seq"])

        async def on_reconnect() -> None:
            reconnects.append(len(received))

        async def scenario() -> None:
            feed = feed_source.make_feed(
                on_message, on_reconnect=on_reconnect, subscribe=[subscription]
            )
            await feed.start()
            try:
                await until(
                    lambda: subscription in feed_source.subscriptions(), what="subscription"
                )
                await feed_source.publish({"event": "queue_update", "seq": 1})
                await until(lambda: received == [1], what="first message")
                if not await feed_source.drop():
                    pytest.skip("this feed source cannot drop connections")
                await until(
                    lambda: feed_source.subscriptions().count(subscription) >= 2,
                    what="re-subscription after the drop",
                )
                await until(lambda: reconnects == [1], what="on_reconnect")
                await feed_source.publish({"event": "queue_update", "seq": 2})
                await until(lambda: received == [1, 2], what="a message after the reconnect")
            finally:
                await feed.stop()

        run(scenario)

    def test_stop_is_prompt_and_leaves_no_thread(self, feed_source: FeedHarness) -> None:
        before = set(threading.enumerate())

        async def on_message(evt: dict[str, Any]) -> None:
            return None

        async def scenario() -> None:
            feed = feed_source.make_feed(on_message)
            await feed.start()
            started = time.monotonic()
            await feed.stop()
            assert time.monotonic() - started < 1.0

        run(scenario)
        deadline = time.monotonic() + 1.0
        while set(threading.enumerate()) - before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not {t for t in set(threading.enumerate()) - before if t.is_alive()}

    def test_slow_consumer_pushes_back_instead_of_buffering_everything(
        self, feed_source: FeedHarness
    ) -> None:
        """While the handler is blocked, the source must stall: memory stays bounded."""
        total = 20_000
        padding = "x" * 1024  # 20 MB in all: more than any socket buffer plus a bounded queue
        received: list[int] = []
        published = 0
        gate = asyncio.Event()

        async def on_message(evt: dict[str, Any]) -> None:
            await gate.wait()
            received.append(evt["seq"])

        async def publish_all() -> None:
            nonlocal published
            for seq in range(total):
                await feed_source.publish({"event": "queue_update", "seq": seq, "pad": padding})
                published += 1

        async def stalled() -> bool:
            """True once the publisher made no progress for half a second."""
            seen = published
            await asyncio.sleep(0.5)
            return published == seen

        async def scenario() -> None:
            feed = feed_source.make_feed(on_message)
            await feed.start()
            publisher = asyncio.create_task(publish_all())
            try:
                deadline = time.monotonic() + 15
                while not await stalled():
                    assert time.monotonic() < deadline, "publisher never stalled"
                assert published < total, "the feed buffered the whole stream"
                gate.set()
                await publisher
                await until(lambda: len(received) >= total, timeout=30, what="all messages")
            finally:
                gate.set()
                publisher.cancel()
                await feed.stop()

        run(scenario, timeout=60)
        assert received == list(range(total))
