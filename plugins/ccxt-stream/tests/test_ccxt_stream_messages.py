"""What a strategy receives: one dict per event, exact Decimals, ms timestamps, in order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from qmtl_core.testing import until
from qmtl_core.testing.scenarios import collect_messages as collector
from qmtl_core.testing.scenarios import run_with_deadline as run
from qmtl_plugin_ccxt_stream.testing import BinanceStandIn

from .conftest import SYMBOL, make_feed, subscribed

BASE_KEYS = {"event", "exchange", "symbol", "timestamp"}


def of(received: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [m for m in received if m["event"] == event]


def test_trades_arrive_in_order_with_exact_decimals(venue: BinanceStandIn) -> None:
    received, on_message = collector()

    async def scenario() -> None:
        async with make_feed(venue, on_message):
            await subscribed(venue, "btcusdt@trade")
            for n in range(50):
                await venue.trade(SYMBOL, f"30000.{n:02d}", "0.00100001", buyer_is_maker=n % 2 == 0)
            await until(lambda: len(received) == 50, what="50 trades")

    run(scenario())
    assert [m["price"] for m in received] == [Decimal(f"30000.{n:02d}") for n in range(50)]
    first = received[0]
    assert set(first) == BASE_KEYS | {"id", "price", "amount", "side"}
    assert first["amount"] == Decimal("0.00100001") and isinstance(first["amount"], Decimal)
    assert (first["exchange"], first["symbol"], first["id"]) == ("binance", SYMBOL, "1")
    assert [m["side"] for m in received[:2]] == ["sell", "buy"]  # buyer is maker: a sell
    assert abs(first["timestamp"] - received[-1]["timestamp"]) < 60_000  # milliseconds


def test_order_book_is_best_first_and_limited_to_depth(venue: BinanceStandIn) -> None:
    received, on_message = collector()

    async def scenario() -> None:
        async with make_feed(venue, on_message, channels=["order_book"], order_book_depth=2):
            await subscribed(venue, "btcusdt@depth@100ms")
            await until(lambda: bool(received), what="the snapshot")
            bids = [("29999.00", "1"), ("29998.00", "2"), ("29997.00", "3")]
            asks = [("30001.00", "1"), ("30002.00", "2"), ("30003.00", "3")]
            await venue.depth(SYMBOL, bids=bids, asks=asks)
            await until(lambda: received[-1]["bids"] != [], what="the first diff")
            await venue.depth(SYMBOL, bids=[("29999.00", "0")])  # the best bid goes away

            await until(lambda: received[-1]["bids"][0][0] == Decimal(29998), what="removal")

    run(scenario())
    book = received[-1]
    assert set(book) == BASE_KEYS | {"bids", "asks", "nonce"}
    assert book["bids"] == [[Decimal(29998), Decimal(2)], [Decimal(29997), Decimal(3)]]
    assert book["asks"] == [[Decimal(30001), Decimal(1)], [Decimal(30002), Decimal(2)]]
    nonces = [m["nonce"] for m in received]
    assert nonces == sorted(nonces)


def test_a_depth_gap_forces_a_fresh_snapshot_never_a_corrupt_book(venue: BinanceStandIn) -> None:
    received, on_message = collector()
    lost_level = [Decimal(29999), Decimal(1)]
    new_level = [Decimal(29990), Decimal(5)]

    async def scenario() -> None:
        feed = make_feed(venue, on_message, channels=["order_book"])
        async with feed:
            await subscribed(venue, "btcusdt@depth@100ms")
            await until(lambda: bool(received), what="the snapshot")
            await venue.depth(SYMBOL, bids=[("29999.00", "1")], asks=[("30001.00", "1")])
            await until(lambda: received[-1]["bids"] == [lost_level], what="the first diff")
            # The venue removes 29999 in a diff that never arrives, then adds 29990.
            await venue.depth(SYMBOL, bids=[("29999.00", "0")], lost=True)
            await venue.depth(SYMBOL, bids=[("29990.00", "5")])
            await until(lambda: received[-1]["bids"] == [new_level], what="the rebuilt book")
            assert feed.stats.resyncs == 1

    run(scenario())
    assert venue.subscribed("btcusdt@depth@100ms") == 2  # subscribed again ...
    assert len([r for r in venue.rest if r[1] == "/api/v3/depth"]) == 2  # ... for a new snapshot
    # Applying the diff after the gap to the old book would have shown both levels.
    assert not any(lost_level in m["bids"] and new_level in m["bids"] for m in received)


def test_only_closed_bars_are_delivered_without_waiting_for_the_next(venue: BinanceStandIn) -> None:
    received, on_message = collector()
    minute = 1_700_000_040_000

    async def scenario() -> None:
        async with make_feed(venue, on_message, channels=["ohlcv:1m"]):
            await subscribed(venue, "btcusdt@kline_1m")
            await venue.kline(SYMBOL, minute, ("100", "101", "99", "100.5", "3"))
            await venue.kline(SYMBOL, minute, ("100", "102", "99", "101.5", "4"), closed=True)
            await until(lambda: bool(received), what="the closed bar")
            await venue.kline(SYMBOL, minute + 60_000, ("101.5", "101.5", "101", "101", "1"))
            await venue.kline(SYMBOL, minute + 120_000, ("101", "101", "100", "100", "1"))
            await until(lambda: len(received) == 2, what="a bar closed by its successor")

    run(scenario())
    bar = received[0]
    assert set(bar) == BASE_KEYS | {"timeframe", "open", "high", "low", "close", "volume"}
    assert (bar["timestamp"], bar["timeframe"], bar["high"], bar["close"], bar["volume"]) == (
        minute,
        "1m",
        Decimal(102),
        Decimal("101.5"),
        Decimal(4),
    )
    assert received[1]["timestamp"] == minute + 60_000


def test_ticker_has_bid_ask_last(venue: BinanceStandIn) -> None:
    received, on_message = collector()

    async def scenario() -> None:
        async with make_feed(venue, on_message, channels=["ticker"]):
            await subscribed(venue, "btcusdt@ticker")
            await venue.ticker(SYMBOL, "29999.99", "30000.01", "30000.00")
            await until(lambda: bool(received), what="a ticker")

    run(scenario())
    ticker = received[0]
    assert set(ticker) == BASE_KEYS | {"bid", "ask", "last"}
    assert (ticker["bid"], ticker["ask"], ticker["last"]) == (
        Decimal("29999.99"),
        Decimal("30000.01"),
        Decimal(30000),
    )


def test_a_slow_consumer_still_gets_what_ccxt_cached_without_a_later_frame(
    venue: BinanceStandIn,
) -> None:
    """Trades that arrive while on_message is busy are delivered without a later trade."""
    received, on_message = collector()

    async def slow(message: dict[str, Any]) -> None:
        await until(lambda: venue_done, what="the burst")
        await on_message(message)

    venue_done = False

    async def scenario() -> None:
        nonlocal venue_done
        async with make_feed(venue, slow, channels=["trades", "ticker"]):
            await subscribed(venue, "btcusdt@trade", "btcusdt@ticker")
            for n in range(5):
                await venue.trade(SYMBOL, "30000", "1", trade_id=n)
            await venue.ticker(SYMBOL, "1", "2", "1.5")
            venue_done = True
            await until(lambda: len(received) == 6, what="every trade and the ticker")

    run(scenario())
    assert [m["id"] for m in of(received, "trade")] == ["0", "1", "2", "3", "4"]
