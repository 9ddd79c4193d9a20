"""Faults at the venue, bad settings, prompt stops and secrets."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from qmtl_core import registry
from qmtl_core.errors import ConfigError, FeedError
from qmtl_core.events import FeedEvent
from qmtl_core.testing import record_events, until
from qmtl_core.testing.peers import hanging_port
from qmtl_core.testing.scenarios import collect_messages as collector
from qmtl_core.testing.scenarios import run_with_deadline as run
from qmtl_plugin_ccxt_stream.feed import CcxtStreamFeed
from qmtl_plugin_ccxt_stream.testing import BinanceStandIn

from .conftest import API_KEY, SECRET, SYMBOL, make_feed, subscribed

TRADES = "btcusdt@trade"


def test_a_silent_peer_is_detected_and_the_feed_reconnects(venue: BinanceStandIn) -> None:
    received, on_message = collector()
    reconnects: list[int] = []

    async def on_reconnect() -> None:
        reconnects.append(len(received))

    async def scenario() -> None:
        async with make_feed(venue, on_message, keepalive=0.1, on_reconnect=on_reconnect) as feed:
            await subscribed(venue, TRADES)
            venue.silence()
            await until(lambda: feed.state == "reconnecting", what="the dead connection noticed")
            venue.silence(False)
            await until(lambda: venue.subscribed(TRADES) >= 2, what="a resubscription")
            await subscribed(venue, TRADES)
            await venue.trade(SYMBOL, "30000", "1")
            await until(lambda: len(received) == 1, what="a trade after the silence")

    run(scenario())
    assert reconnects == [0]


def test_malformed_frames_do_not_stop_the_stream(venue: BinanceStandIn) -> None:
    received, on_message = collector()

    async def scenario() -> Any:
        with record_events() as events:
            async with make_feed(venue, on_message) as feed:
                await subscribed(venue, TRADES)
                await venue.trade(SYMBOL, "30000", "1")
                await venue.send_raw(TRADES, "{not json")
                await venue.send_raw(TRADES, '{"e": "trade", "s": "BTCUSDT", "p": []}')
                await venue.trade(SYMBOL, "30001", "1")
                await until(lambda: len(received) >= 2, what="trades around the bad frames")
                dropped = feed.stats.dropped
        return dropped, events.of("message_dropped")

    dropped, events = run(scenario())
    assert [m["price"] for m in received] == [30000, 30001]
    assert dropped == 2 and events[0].data["preview"] == "{not json"


def test_a_channel_the_exchange_lacks_is_a_clear_error() -> None:
    with pytest.raises(ConfigError) as caught:
        CcxtStreamFeed("bitstamp", collector()[1], symbols=[SYMBOL], channels=["ohlcv:1m"])
    assert caught.value.key == "channels"
    assert "bitstamp has no 'ohlcv' stream" in str(caught.value)


@pytest.mark.parametrize(
    ("options", "key", "text"),
    [
        ({"channels": ["trade"]}, "channels", "did you mean 'trades'"),
        ({"channels": ["ticker:1m"]}, "channels", "only ohlcv takes a timeframe"),
        ({"symbols": "BTC/USDT"}, "symbols", "expected list"),
        ({"symbols": []}, "symbols", "non-empty list"),
        ({"order_book_depth": 0}, "order_book_depth", "1 or more"),
        ({"sandbx": True}, "sandbx", "did you mean 'sandbox'"),
    ],
)
def test_bad_settings_name_the_option(options: dict[str, Any], key: str, text: str) -> None:
    settings: dict[str, Any] = {"symbols": [SYMBOL], **options}
    with pytest.raises(ConfigError) as caught:
        CcxtStreamFeed("binance", collector()[1], **settings)
    assert caught.value.key == key and text in str(caught.value)


def test_an_unknown_symbol_fails_start(venue: BinanceStandIn) -> None:
    async def scenario() -> None:
        feed = make_feed(venue, collector()[1], symbols=["DOGE/USDT"])
        with pytest.raises(ConfigError, match="no market 'DOGE/USDT'"):
            await feed.start()
        assert not feed.running

    run(scenario())


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A loopback URL whose TCP connect hangs: the listener's backlog is full."""
    with hanging_port() as port:
        yield f"http://127.0.0.1:{port}"


def test_stop_is_prompt_while_start_hangs(blackhole: str) -> None:
    async def scenario() -> None:
        feed = CcxtStreamFeed(
            "binance", collector()[1], symbols=[SYMBOL], urls={"api": {"public": blackhole}}
        )
        starting = asyncio.create_task(feed.start())
        await asyncio.sleep(0.2)
        began = time.monotonic()
        await feed.stop()
        with pytest.raises((FeedError, asyncio.CancelledError)):
            await starting
        assert time.monotonic() - began < 1.0

    run(scenario())


def test_stop_is_prompt_while_reconnecting(venue: BinanceStandIn) -> None:
    async def scenario() -> None:
        feed = make_feed(venue, collector()[1], backoff=30.0, max_backoff=30.0)
        await feed.start()
        await subscribed(venue, TRADES)
        await venue.drop()
        await until(lambda: feed.state == "reconnecting", what="the drop noticed")
        began = time.monotonic()
        await feed.stop()
        assert time.monotonic() - began < 1.0 and feed.state == "stopped"

    run(scenario())


def test_giving_up_reaches_on_error(venue: BinanceStandIn) -> None:
    errors: list[BaseException] = []

    async def on_error(exc: BaseException, message: dict[str, Any]) -> None:
        errors.append(exc)

    async def scenario() -> None:
        feed = make_feed(venue, collector()[1], max_retries=1, on_error=on_error)
        await feed.start()
        await subscribed(venue, TRADES)
        venue.close()  # the venue is gone for good
        await until(lambda: bool(errors), what="on_error")
        await feed.stop()

    run(scenario())
    assert isinstance(errors[0], FeedError) and "gave up after 1 reconnect" in str(errors[0])


def test_feed_events_and_secrets(venue: BinanceStandIn, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> tuple[list[str], list[str]]:
        with record_events() as events:
            feed = make_feed(venue, collector()[1], apiKey=API_KEY, secret=SECRET)
            async with feed:
                await subscribed(venue, TRADES)
                await venue.drop()
                await until(lambda: feed.stats.reconnects == 1, what="a reconnect")
        kinds = [e.kind for e in events.events if isinstance(e, FeedEvent)]
        return kinds, [repr(feed), str(feed.stats), *(repr(e) for e in events.events)]

    kinds, shown = run(scenario())
    assert kinds == ["connected", "disconnected", "reconnected", "disconnected"]
    for text in [*shown, caplog.text]:
        assert API_KEY not in text and SECRET not in text


def test_registered_as_the_ccxt_feed(venue: BinanceStandIn) -> None:
    received, on_message = collector()

    async def scenario() -> None:
        feed = registry.create(
            "feed",
            "ccxt",
            on_message=on_message,
            exchange="binance",
            symbols=[SYMBOL],
            channels=["trades"],
            urls=venue.urls(),
            enableRateLimit=False,
        )
        async with feed:
            await subscribed(venue, TRADES)
            await venue.trade(SYMBOL, "1", "1")
            await until(lambda: len(received) == 1, what="a trade")

    run(scenario())
