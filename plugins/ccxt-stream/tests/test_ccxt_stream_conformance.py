"""The ccxt feed runs the core's feed conformance kit against the loopback Binance stand-in.

The kit speaks in ``{"seq": n}`` messages; this harness publishes each as a Binance trade
with id ``n`` (padding and all) and hands the kit the trade id back as ``seq``. Every
SUBSCRIBE the stand-in receives for the trade stream counts as the kit's subscription.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest

from qmtl_core.feeds import MessageHandler
from qmtl_core.testing import FeedConformance
from qmtl_plugin_ccxt_stream.feed import CcxtStreamFeed
from qmtl_plugin_ccxt_stream.testing import BinanceStandIn

from .conftest import SYMBOL, make_feed, subscribed

STREAM = "btcusdt@trade"


class StandInSource:
    def __init__(self, venue: BinanceStandIn) -> None:
        self.venue = venue
        self.subscription: dict[str, Any] = {}

    def make_feed(
        self,
        on_message: MessageHandler,
        *,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
        subscribe: Sequence[dict[str, Any]] = (),
    ) -> CcxtStreamFeed:
        self.subscription = dict(subscribe[0]) if subscribe else {}

        async def as_kit_message(message: dict[str, Any]) -> None:
            await on_message({"event": "queue_update", "seq": int(message["id"])})

        return make_feed(self.venue, as_kit_message, on_reconnect=on_reconnect)

    async def publish(self, message: dict[str, Any]) -> None:
        await subscribed(self.venue, STREAM)
        pad = {"pad": message["pad"]} if "pad" in message else {}
        await self.venue.trade(SYMBOL, "30000.01", "0.001", trade_id=message["seq"], **pad)

    async def drop(self) -> bool:
        await self.venue.drop()
        return True

    def subscriptions(self) -> list[dict[str, Any]]:
        return [self.subscription] * self.venue.subscribed(STREAM)


class TestCcxtStreamConformance(FeedConformance):
    @pytest.fixture
    def feed_source(self, venue: BinanceStandIn) -> Iterator[StandInSource]:
        yield StandInSource(venue)
