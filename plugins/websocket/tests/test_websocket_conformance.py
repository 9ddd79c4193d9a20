"""WebSocketFeed runs the core's feed conformance suite against the real loopback gateway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest

from qmtl_core.feeds import MessageHandler
from qmtl_core.testing import FeedConformance
from qmtl_plugin_websocket.feed import WebSocketFeed
from qmtl_plugin_websocket.gateway import Gateway

from .conftest import TOKEN


class GatewaySource:
    """The feed harness: feeds connect to the gateway, which publishes with back-pressure."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def make_feed(
        self,
        on_message: MessageHandler,
        *,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
        subscribe: Sequence[dict[str, Any]] = (),
    ) -> WebSocketFeed:
        return WebSocketFeed(
            self.gateway.url,
            on_message=on_message,
            token=TOKEN,
            on_reconnect=on_reconnect,
            subscribe=list(subscribe),
        )

    async def publish(self, message: dict[str, Any]) -> None:
        self.gateway.wait_for_connections()
        await self.gateway.publish(message)

    async def drop(self) -> bool:
        self.gateway.drop_connections()
        return True

    def subscriptions(self) -> list[dict[str, Any]]:
        return self.gateway.subscriptions


class TestWebSocketFeedConformance(FeedConformance):
    @pytest.fixture
    def feed_source(self) -> Iterator[GatewaySource]:
        with Gateway(TOKEN) as gateway:
            yield GatewaySource(gateway)
