"""FakeLiveDataFeed: in-order delivery, contained handler errors, nothing after stop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from qmtl_core.errors import FeedError
from qmtl_core.feeds import LiveDataFeed
from qmtl_plugin_fake.feed import FakeLiveDataFeed


def test_messages_arrive_in_order_and_errors_are_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    received: list[int] = []
    errors: list[tuple[str, int]] = []

    async def on_msg(evt: dict[str, Any]) -> None:
        if evt["n"] == 3:
            raise RuntimeError("bad tick")
        await asyncio.sleep(0)  # let other tasks run between messages
        received.append(evt["n"])

    async def on_error(exc: BaseException, evt: dict[str, Any]) -> None:
        errors.append((str(exc), evt["n"]))

    async def scenario() -> None:
        feed = FakeLiveDataFeed(on_message=on_msg, on_error=on_error)
        assert isinstance(feed, LiveDataFeed)
        await feed.start()
        await asyncio.gather(*(feed.emit({"event": "queue_update", "n": n}) for n in range(6)))
        assert feed.delivered == 5
        await feed.stop()
        with pytest.raises(FeedError, match="not running"):
            await feed.emit({"n": 99})

    caplog.set_level(logging.ERROR)
    asyncio.run(scenario())
    assert received == [0, 1, 2, 4, 5]
    assert errors == [("bad tick", 3)]
    assert "bad tick" in caplog.text and "'n': 3" in caplog.text


def test_emit_before_start_is_an_error() -> None:
    async def on_msg(evt: dict[str, Any]) -> None:
        raise AssertionError("must not be called")

    async def scenario() -> None:
        with pytest.raises(FeedError, match="start"):
            await FakeLiveDataFeed(on_message=on_msg).emit({"event": "x"})

    asyncio.run(scenario())


def test_nothing_is_delivered_after_stop_even_if_queued() -> None:
    received: list[int] = []

    async def scenario() -> None:
        gate = asyncio.Event()

        async def slow(evt: dict[str, Any]) -> None:
            await gate.wait()
            received.append(evt["n"])

        feed = FakeLiveDataFeed(on_message=slow)
        await feed.start()
        first = asyncio.create_task(feed.emit({"n": 1}))
        second = asyncio.create_task(feed.emit({"n": 2}))
        await asyncio.sleep(0)
        await feed.stop()
        gate.set()
        await asyncio.gather(first, second)

    asyncio.run(scenario())
    assert received == [1]
