"""The fake connectors run the same conformance kit as every other plugin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from qmtl_core.feeds import MessageHandler
from qmtl_core.testing import (
    AsyncTwinConformance,
    BrokerageConformance,
    BrokerageFault,
    FeedConformance,
)
from qmtl_plugin_fake.brokerage import FakeBrokerageClient
from qmtl_plugin_fake.feed import FakeLiveDataFeed


class PaperVenue:
    """The fake broker is its own venue: no transport, so no transport faults."""

    symbol = "BTC/USDT"
    price = "50000"
    secrets: Sequence[str] = ()

    def __init__(self, broker: FakeBrokerageClient) -> None:
        self.broker = broker

    def set_price(self, price: str) -> None:
        self.broker.update_price(self.symbol, price)

    def order_count(self) -> int:
        return len(self.broker.orders())

    def inject(self, fault: BrokerageFault, *, retry_after: float = 0.2) -> bool:
        return False


class TestFakeBrokerage(BrokerageConformance):
    @pytest.fixture
    def brokerage(self) -> FakeBrokerageClient:
        return FakeBrokerageClient(prices={PaperVenue.symbol: PaperVenue.price})

    @pytest.fixture
    def venue(self, brokerage: FakeBrokerageClient) -> PaperVenue:
        return PaperVenue(brokerage)


class TestFakeBrokerageAsyncTwin(AsyncTwinConformance):
    @pytest.fixture
    def blocking_brokerage(self) -> FakeBrokerageClient:
        return FakeBrokerageClient(prices={PaperVenue.symbol: PaperVenue.price})

    @pytest.fixture
    def venue(self, blocking_brokerage: FakeBrokerageClient) -> PaperVenue:
        return PaperVenue(blocking_brokerage)


class InMemorySource:
    def __init__(self) -> None:
        self.feeds: list[FakeLiveDataFeed] = []
        self.subscribed: list[dict[str, Any]] = []

    def make_feed(
        self,
        on_message: MessageHandler,
        *,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
        subscribe: Sequence[dict[str, Any]] = (),
    ) -> FakeLiveDataFeed:
        self.subscribed.extend(subscribe)
        feed = FakeLiveDataFeed(on_message=on_message, on_reconnect=on_reconnect)
        self.feeds.append(feed)
        return feed

    async def publish(self, message: dict[str, Any]) -> None:
        for feed in self.feeds:
            if feed.running:
                await feed.emit(message)

    async def drop(self) -> bool:
        return False  # an in-memory feed has no connection to lose

    def subscriptions(self) -> list[dict[str, Any]]:
        return list(self.subscribed)


class TestFakeFeed(FeedConformance):
    @pytest.fixture
    def feed_source(self) -> InMemorySource:
        return InMemorySource()
