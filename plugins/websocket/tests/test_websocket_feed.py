"""WebSocketFeed on a clean stream: order, the caller's loop, invalid frames, handler errors."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

from qmtl_core import WebSocketFeed as RootWebSocketFeed
from qmtl_core.errors import ConfigError
from qmtl_core.feeds import LiveDataFeed
from qmtl_core.testing import until
from qmtl_core.testing.scenarios import collect_messages as collector
from qmtl_core.testing.scenarios import run_with_deadline as run
from qmtl_plugin_websocket.feed import WebSocketFeed
from qmtl_plugin_websocket.gateway import Gateway

from .conftest import TOKEN

STREAM = 5000


def test_every_message_arrives_once_in_order_on_the_callers_loop(gateway: Gateway) -> None:
    seen: list[int] = []
    where: set[tuple[int, int]] = set()
    inside = 0
    overlapped = False

    async def on_msg(evt: dict[str, Any]) -> None:
        nonlocal inside, overlapped
        inside += 1
        overlapped |= inside > 1
        where.add((threading.get_ident(), id(asyncio.get_running_loop())))
        await asyncio.sleep(0)  # a real await point: the next message must still wait
        seen.append(evt["seq"])
        inside -= 1

    async def scenario() -> None:
        feed = WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN)
        assert isinstance(feed, LiveDataFeed)
        async with feed:
            gateway.wait_for_connections()
            assert feed.state == "connected"
            gateway.stream(STREAM)
            await until(lambda: len(seen) == STREAM)
            stats = feed.stats
        assert where == {(threading.get_ident(), id(asyncio.get_running_loop()))}
        assert (stats.connects, stats.reconnects, stats.received, stats.delivered) == (
            1,
            0,
            STREAM,
            STREAM,
        )
        assert 0 < stats.peak_queued <= feed.queue_size

    run(scenario())
    assert seen == list(range(STREAM))
    assert not overlapped


def test_the_seed_example_runs_as_written_against_the_gateway(gateway: Gateway) -> None:
    updates: list[dict[str, Any]] = []

    async def on_msg(evt: dict[str, Any]) -> None:
        if evt.get("event") == "queue_update":
            updates.append(evt)

    async def scenario() -> None:
        feed = RootWebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN)
        await feed.start()
        try:
            gateway.wait_for_connections()
            gateway.broadcast({"event": "queue_update", "queue": "BTC/USDT", "depth": 3})
            await until(lambda: len(updates) == 1)
        finally:
            await feed.stop()

    run(scenario())
    assert updates == [{"event": "queue_update", "queue": "BTC/USDT", "depth": 3}]


def test_invalid_frames_are_logged_counted_and_skipped(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qmtl_core.events")
    received, on_msg = collector()

    async def scenario() -> None:
        async with WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN) as feed:
            gateway.wait_for_connections()
            gateway.send_raw("not json", "[1, 2]", "42", '"text"', b"\xff\xfe{")
            gateway.send_raw(b"\x00\x01", text=False)
            gateway.broadcast({"event": "queue_update", "n": 1}, {"version": 2, "n": 2})
            await until(lambda: len(received) == 2)
            stats = feed.stats
        assert (stats.dropped, stats.delivered, stats.connects) == (6, 2, 1)

    run(scenario())
    # Any JSON object is delivered: there is no 'version == 1' filter.
    assert received == [{"event": "queue_update", "n": 1}, {"version": 2, "n": 2}]
    drops = [r.getMessage() for r in caplog.records if "kind=message_dropped" in r.getMessage()]
    assert len(drops) == 6
    assert "reason='not JSON'" in drops[0] and "preview='not json'" in drops[0]
    assert "reason='not a JSON object'" in drops[1]


def test_a_failing_handler_is_logged_with_its_message_and_the_feed_goes_on(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    delivered: list[int] = []
    errors: list[tuple[str, int]] = []

    async def on_msg(evt: dict[str, Any]) -> None:
        if evt["seq"] == 3:
            raise RuntimeError("bad tick")
        delivered.append(evt["seq"])

    def on_error(exc: BaseException, evt: dict[str, Any]) -> None:
        errors.append((str(exc), evt["seq"]))

    async def scenario() -> None:
        async with WebSocketFeed(
            gateway.url, on_message=on_msg, token=TOKEN, on_error=on_error
        ) as feed:
            gateway.wait_for_connections()
            gateway.stream(6)
            await until(lambda: len(delivered) == 5)
            stats = feed.stats
        assert (stats.delivered, stats.handler_errors, stats.connects) == (5, 1, 1)

    run(scenario())
    assert delivered == [0, 1, 2, 4, 5]
    assert errors == [("bad tick", 3)]
    assert "bad tick" in caplog.text and "'seq': 3" in caplog.text


def test_stats_record_when_the_last_message_arrived(gateway: Gateway) -> None:
    received, on_msg = collector()

    async def scenario() -> None:
        async with WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN) as feed:
            gateway.wait_for_connections()
            assert feed.stats.last_message_at is None
            before = time.time()
            gateway.push_price("BTC/USDT", "50000")
            await until(lambda: len(received) == 1)
            at = feed.stats.last_message_at
        assert at is not None and before <= at <= time.time()

    run(scenario())


async def _handler(evt: dict[str, Any]) -> None:
    """A valid on_message for the option checks below."""


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"url": "http://127.0.0.1/ws"}, "url"),
        ({"queue_size": 0}, "queue_size"),
        ({"ping_interval": -1}, "ping_interval"),
        ({"recv_timeout": 0}, "recv_timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_total_time": "soon"}, "max_total_time"),
        ({"subscribe": [1, 2]}, "subscribe"),
        ({"on_message": print}, "on_message"),
        ({"on_message": lambda evt: None}, "on_message"),
        ({"on_reconnect": lambda: None}, "on_reconnect"),
        ({"on_error": "log"}, "on_error"),
    ],
)
def test_bad_arguments_are_config_errors_naming_the_option(
    options: dict[str, Any], key: str
) -> None:
    arguments: dict[str, Any] = {"url": "ws://127.0.0.1:9/ws", "on_message": _handler}
    with pytest.raises(ConfigError) as info:
        WebSocketFeed(**{**arguments, **options})
    assert info.value.key == key


def test_repr_and_errors_never_show_the_token_or_url_secrets() -> None:
    feed = WebSocketFeed(
        "wss://user:pw@venue.example/ws?apikey=k-1", on_message=_handler, token="jwt-secret"
    )
    shown = repr(feed)
    assert "jwt-secret" not in shown and "k-1" not in shown and "pw" not in shown
    assert shown == "WebSocketFeed('wss://user:***@venue.example/ws?***', state='new')"
