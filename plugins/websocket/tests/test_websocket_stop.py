"""stop() returns within a second in every state the feed can be in, and leaves no thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from qmtl_core.errors import FeedError
from qmtl_core.testing import until
from qmtl_core.testing.scenarios import collect_messages as collector
from qmtl_core.testing.scenarios import run_with_deadline as run
from qmtl_plugin_websocket.feed import WebSocketFeed
from qmtl_plugin_websocket.gateway import Gateway

from .conftest import TOKEN

STOP_DEADLINE = 1.0
Setup = Callable[[Gateway, str], Awaitable[tuple[WebSocketFeed, "asyncio.Task[None] | None"]]]


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("qmtl-websocket-feed")]


async def never(evt: dict[str, Any] | None = None) -> None:
    """A handler that does not return until it is cancelled."""
    await asyncio.Event().wait()


async def connected_idle(gateway: Gateway, blackhole: str) -> tuple[WebSocketFeed, None]:
    _, on_msg = collector()
    feed = WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN)
    await feed.start()
    gateway.wait_for_connections()
    return feed, None


async def backing_off(gateway: Gateway, blackhole: str) -> tuple[WebSocketFeed, None]:
    _, on_msg = collector()
    feed = WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN, backoff=30, max_backoff=30)
    await feed.start()
    gateway.wait_for_connections()
    gateway.drop_connections()
    await until(lambda: feed.state == "reconnecting")
    return feed, None


async def mid_handshake(
    gateway: Gateway, blackhole: str
) -> tuple[WebSocketFeed, asyncio.Task[None]]:
    _, on_msg = collector()
    gateway.stall_handshakes()
    feed = WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN, connect_timeout=30)
    starting = asyncio.create_task(feed.start())
    await until(lambda: gateway.pending_handshakes == 1)
    return feed, starting


async def mid_tcp_connect(
    gateway: Gateway, blackhole: str
) -> tuple[WebSocketFeed, asyncio.Task[None]]:
    _, on_msg = collector()
    feed = WebSocketFeed(blackhole, on_message=on_msg, token=TOKEN, connect_timeout=30)
    starting = asyncio.create_task(feed.start())
    await until(lambda: len(reader_threads()) == 1 and feed.state == "connecting")
    return feed, starting


async def back_pressured(gateway: Gateway, blackhole: str) -> tuple[WebSocketFeed, None]:
    feed = WebSocketFeed(gateway.url, on_message=never, token=TOKEN, queue_size=4)
    await feed.start()
    gateway.wait_for_connections()
    gateway.stream(10_000)
    await until(lambda: feed.stats.queued == 4 and feed.stats.received == 5)
    return feed, None


async def in_on_reconnect(gateway: Gateway, blackhole: str) -> tuple[WebSocketFeed, None]:
    calls: list[int] = []

    async def on_reconnect() -> None:
        calls.append(1)
        await never()

    _, on_msg = collector()
    feed = WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN, on_reconnect=on_reconnect)
    await feed.start()
    gateway.wait_for_connections()
    gateway.drop_connections()
    await until(lambda: calls == [1])
    return feed, None


async def failed(gateway: Gateway, blackhole: str) -> tuple[WebSocketFeed, None]:
    _, on_msg = collector()
    feed = WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN, max_retries=0)
    await feed.start()
    gateway.wait_for_connections()
    gateway.drop_connections()
    await until(lambda: feed.state == "failed")
    return feed, None


@pytest.mark.parametrize(
    "setup",
    [
        connected_idle,
        backing_off,
        mid_handshake,
        mid_tcp_connect,
        back_pressured,
        in_on_reconnect,
        failed,
    ],
)
def test_stop_is_prompt_and_leaves_no_thread(
    gateway: Gateway, blackhole: str, setup: Setup
) -> None:
    async def scenario() -> None:
        feed, starting = await setup(gateway, blackhole)
        began = time.monotonic()
        await feed.stop()
        assert time.monotonic() - began < STOP_DEADLINE
        assert reader_threads() == []
        assert not feed.running and feed.state in ("stopped", "failed")
        if starting is not None:
            with pytest.raises(FeedError, match="stopped before connecting"):
                await starting
        await feed.stop()  # a second stop is a no-op

    run(scenario())


def test_stop_from_inside_on_message_delivers_nothing_more(gateway: Gateway) -> None:
    seen: list[int] = []

    async def scenario() -> None:
        feed: WebSocketFeed
        stopped = asyncio.Event()

        async def on_msg(evt: dict[str, Any]) -> None:
            seen.append(evt["seq"])
            if evt["seq"] == 2:
                await feed.stop()
                stopped.set()

        feed = WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN)
        await feed.start()
        gateway.wait_for_connections()
        gateway.stream(1000)
        await asyncio.wait_for(stopped.wait(), STOP_DEADLINE)
        assert reader_threads() == []
        assert feed.state == "stopped"

    run(scenario())
    assert seen == [0, 1, 2]


def test_a_stopped_feed_can_start_again(gateway: Gateway) -> None:
    received, on_msg = collector()

    async def scenario() -> None:
        feed = WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN)
        await feed.stop()  # stopping a feed that never started is harmless
        for round_ in range(2):
            async with feed:
                with pytest.raises(FeedError, match="already started"):
                    await feed.start()
                await until(
                    lambda: gateway.connections == round_ + 1 and gateway.open_connections == 1  # noqa: B023
                )
                gateway.push_price("BTC/USDT", round_)
                await until(lambda: len(received) == round_ + 1)  # noqa: B023
        assert feed.stats.connects == 2

    run(scenario())
    assert [m["price"] for m in received] == ["0", "1"]
