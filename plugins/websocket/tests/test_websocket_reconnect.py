"""WebSocketFeed against faults: drops, silent peers, refused tokens and retry budgets."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import pytest

from qmtl_core import runtime
from qmtl_core.errors import FeedAuthenticationError, FeedError
from qmtl_core.testing import until
from qmtl_core.testing.scenarios import collect_messages as collector
from qmtl_core.testing.scenarios import run_with_deadline as run
from qmtl_plugin_websocket.feed import WebSocketFeed
from qmtl_plugin_websocket.gateway import Gateway

from .conftest import TOKEN, seqs

SUBSCRIBE = {"op": "subscribe", "channel": "prices"}
SUBSCRIBED = {"event": "subscribed", "channel": "prices"}
DETECTION_MARGIN = 1.5


async def reconnected(feed: WebSocketFeed, gateway: Gateway, times: int) -> None:
    """The feed reconnected ``times`` times and the gateway has registered the newest."""
    await until(lambda: feed.stats.reconnects == times and gateway.connections == times + 1)


def test_after_a_drop_it_resubscribes_awaits_on_reconnect_then_delivers(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qmtl_core.events")
    received, on_msg = collector()
    delivered_at_reconnect: list[int] = []

    async def scenario() -> None:
        gate = asyncio.Event()

        async def on_reconnect() -> None:
            delivered_at_reconnect.append(len(received))
            await gate.wait()  # e.g. reconciling orders over REST

        async with WebSocketFeed(
            gateway.url,
            on_message=on_msg,
            token=TOKEN,
            subscribe=[SUBSCRIBE],
            on_reconnect=on_reconnect,
        ) as feed:
            gateway.wait_for_connections()
            await until(lambda: received == [SUBSCRIBED])  # the gateway has our subscription
            gateway.stream(10)
            await until(lambda: len(received) == 11)
            gateway.drop_connections()
            await reconnected(feed, gateway, 1)
            await until(lambda: feed.stats.received == 12)  # subscribed again (not delivered)
            gateway.stream(10, start=10)
            await until(lambda: feed.stats.received == 22)  # all here, none delivered yet
            assert len(received) == 11
            gate.set()
            await until(lambda: len(received) == 22)

    run(scenario())
    assert received[0] == SUBSCRIBED and received[11] == SUBSCRIBED
    assert seqs(received) == list(range(20))
    assert gateway.subscriptions == [SUBSCRIBE, SUBSCRIBE]
    assert delivered_at_reconnect == [11]
    kinds = [
        r.getMessage().split()[1] for r in caplog.records if r.getMessage().startswith("feed_event")
    ]
    assert kinds == ["kind=connected", "kind=disconnected", "kind=reconnected", "kind=disconnected"]


def test_a_drop_mid_stream_keeps_order_and_the_next_stream_arrives_whole(gateway: Gateway) -> None:
    received, on_msg = collector()

    async def scenario() -> None:
        async with WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN) as feed:
            gateway.wait_for_connections()
            gateway.stream(200_000)
            await until(lambda: len(received) >= 1000)
            gateway.drop_connections()
            await reconnected(feed, gateway, 1)
            gateway.stream(500, start=1_000_000)
            await until(lambda: received[-1]["seq"] == 1_000_499)

    run(scenario())
    values = seqs(received)
    cut = values.index(1_000_000)
    assert values[:cut] == list(range(cut))  # a prefix of the first stream: no gap, no repeat
    assert values[cut:] == list(range(1_000_000, 1_000_500))


def test_a_silent_peer_is_detected_within_the_receive_timeout(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    received, on_msg = collector()
    recv_timeout = 0.3

    async def scenario() -> None:
        feed = WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN, ping_interval=30)
        # Lowered after the feed was built: the setting is read when it is needed.
        monkeypatch.setattr(runtime, "WS_RECV_TIMEOUT_SECONDS", recv_timeout)
        began = time.monotonic()  # the feed's quiet clock starts after this, at connect
        async with feed:
            gateway.wait_for_connections()
            gateway.silence()
            await until(lambda: feed.stats.reconnects == 1, timeout=recv_timeout + DETECTION_MARGIN)
            assert time.monotonic() - began >= recv_timeout
            await reconnected(feed, gateway, 1)
            gateway.push_price("BTC/USDT", "50100")
            await until(lambda: len(received) == 1)

    run(scenario())
    assert received == [{"event": "price", "symbol": "BTC/USDT", "price": "50100"}]


def test_a_missing_pong_forces_a_reconnect(gateway: Gateway) -> None:
    _, on_msg = collector()

    async def scenario() -> None:
        async with WebSocketFeed(
            gateway.url, on_message=on_msg, token=TOKEN, ping_interval=0.1, recv_timeout=30
        ) as feed:
            gateway.wait_for_connections()
            gateway.silence()
            await until(lambda: feed.stats.reconnects >= 1, timeout=0.2 + DETECTION_MARGIN)

    run(scenario())


def test_a_refused_token_fails_start_without_retrying(gateway: Gateway) -> None:
    _, on_msg = collector()

    async def scenario() -> None:
        feed = WebSocketFeed(gateway.url, on_message=on_msg, token="not-the-token")
        with pytest.raises(FeedAuthenticationError, match="401"):
            await feed.start()
        assert (feed.state, feed.running) == ("failed", False)
        assert isinstance(feed.error, FeedAuthenticationError)

    run(scenario())
    assert (gateway.refused, gateway.connections) == (1, 0)


def test_a_token_refused_on_reconnect_ends_the_feed_through_on_error(gateway: Gateway) -> None:
    _, on_msg = collector()
    errors: list[tuple[BaseException, dict[str, Any]]] = []

    async def on_error(exc: BaseException, message: dict[str, Any]) -> None:
        errors.append((exc, message))

    async def scenario() -> None:
        async with WebSocketFeed(
            gateway.url, on_message=on_msg, token=TOKEN, on_error=on_error
        ) as feed:
            gateway.wait_for_connections()
            gateway.refuse_handshakes(401)
            gateway.drop_connections()
            await until(lambda: len(errors) == 1)
            assert feed.state == "failed" and feed.error is errors[0][0]
        assert feed.state == "failed"

    run(scenario())
    assert isinstance(errors[0][0], FeedAuthenticationError) and errors[0][1] == {}
    assert gateway.refused == 1


def test_start_gives_up_when_the_retry_budget_is_spent(closed_port_url: str) -> None:
    _, on_msg = collector()

    async def scenario() -> None:
        by_count = WebSocketFeed(closed_port_url, on_message=on_msg, max_retries=2)
        with pytest.raises(FeedError, match="gave up after 2 reconnect attempts"):
            await by_count.start()
        by_time = WebSocketFeed(closed_port_url, on_message=on_msg, max_total_time=0.2)
        with pytest.raises(FeedError, match=r"gave up after \d+ reconnect attempts in 0\.\ds"):
            await by_time.start()

    run(scenario())


def test_start_gives_up_by_default_within_the_start_timeout(
    closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The seed's WebSocketFeed(url, ...) with no budget: start() must not wait forever.
    monkeypatch.setattr(runtime, "WS_START_TIMEOUT_SECONDS", 0.3)
    _, on_msg = collector()

    async def scenario() -> float:
        feed = WebSocketFeed(closed_port_url, on_message=on_msg)
        began = time.monotonic()
        with pytest.raises(FeedError, match=r"could not connect: gave up .*start_timeout"):
            await feed.start()
        assert feed.state == "failed"
        by_option = WebSocketFeed(closed_port_url, on_message=on_msg, start_timeout=0.1)
        with pytest.raises(FeedError, match="could not connect"):
            await by_option.start()
        return time.monotonic() - began

    assert run(scenario()) < 5


def test_a_connected_feed_keeps_reconnecting_past_the_start_timeout(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "WS_START_TIMEOUT_SECONDS", 0.05)
    received, on_msg = collector()

    async def scenario() -> None:
        async with WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN) as feed:
            gateway.wait_for_connections()
            gateway.refuse_handshakes(503)
            gateway.drop_connections()
            began = time.monotonic()
            await until(lambda: time.monotonic() - began > 0.3)
            assert feed.state == "reconnecting"
            gateway.accept_handshakes()
            await reconnected(feed, gateway, 1)
            gateway.push_price("BTC/USDT", 1)
            await until(lambda: len(received) == 1)

    run(scenario())


def test_the_token_comes_from_qmtl_ws_token_when_none_is_given(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QMTL_WS_TOKEN", TOKEN)
    received, on_msg = collector()

    async def scenario() -> None:
        async with WebSocketFeed(gateway.url, on_message=on_msg):
            gateway.wait_for_connections()
            gateway.push_price("BTC/USDT", 1)
            await until(lambda: len(received) == 1)

    run(scenario())


@pytest.mark.parametrize(("healthy_after", "survives"), [(0.0001, True), (60.0, False)])
def test_the_retry_budget_resets_only_after_a_healthy_connection(
    gateway: Gateway, healthy_after: float, survives: bool
) -> None:
    received, on_msg = collector()

    async def scenario() -> WebSocketFeed:
        async with WebSocketFeed(
            gateway.url,
            on_message=on_msg,
            token=TOKEN,
            max_retries=1,
            healthy_after=healthy_after,
        ) as feed:
            gateway.wait_for_connections()
            for drop in range(1, 4):
                gateway.push_price("BTC/USDT", drop)  # the connection is in use before it drops
                await until(lambda: len(received) == drop)  # noqa: B023 - awaited right here
                gateway.drop_connections()
                await until(lambda: feed.stats.reconnects == drop or feed.state == "failed")  # noqa: B023
                if feed.state == "failed":
                    break
                await reconnected(feed, gateway, drop)
        return feed

    feed = run(scenario())
    if survives:
        assert (feed.stats.reconnects, feed.state) == (3, "stopped")
    else:
        assert (feed.stats.reconnects, feed.state) == (1, "failed")
        assert "gave up after 1 reconnect attempts" in str(feed.error)


def test_a_subscribe_callable_builds_fresh_messages_on_every_connect(gateway: Gateway) -> None:
    _, on_msg = collector()
    attempt = itertools.count(1)

    def build() -> list[dict[str, Any] | str]:
        return [{"op": "subscribe", "channel": "prices", "attempt": next(attempt)}]

    async def scenario() -> None:
        async with WebSocketFeed(
            gateway.url, on_message=on_msg, token=TOKEN, subscribe=build
        ) as feed:
            gateway.wait_for_connections()
            await until(lambda: len(gateway.subscriptions) == 1)
            gateway.drop_connections()
            await reconnected(feed, gateway, 1)
            await until(lambda: len(gateway.subscriptions) == 2)

    run(scenario())
    assert [s["attempt"] for s in gateway.subscriptions] == [1, 2]


def test_a_failing_subscribe_callable_fails_start_with_its_reason(gateway: Gateway) -> None:
    _, on_msg = collector()

    def build() -> list[dict[str, Any] | str]:
        raise ValueError("no symbols configured")

    async def scenario() -> None:
        feed = WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN, subscribe=build)
        with pytest.raises(FeedError, match="no symbols configured"):
            await feed.start()

    run(scenario())
