"""FakeLiveDataFeed: forwards what you ``emit`` to ``on_message``, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from qmtl_core.errors import FeedError
from qmtl_core.events import emit_feed_event
from qmtl_core.feeds import ErrorHandler, MessageHandler, deliver


class FakeLiveDataFeed:
    """An in-memory feed for demos and tests; same contract as ``WebSocketFeed``."""

    def __init__(
        self,
        on_message: MessageHandler,
        *,
        on_error: ErrorHandler | None = None,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.on_message = on_message
        self.on_error = on_error
        self.on_reconnect = on_reconnect  # an in-memory feed never reconnects
        self.running = False
        self.delivered = 0
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.running = True
        emit_feed_event("connected", "FakeLiveDataFeed")

    async def emit(self, message: dict[str, Any]) -> None:
        """Deliver ``message`` (after every earlier one); an error if the feed is not running."""
        if not self.running:
            raise FeedError("the feed is not running: await start() first (or it was stopped)")
        async with self._lock:
            if self.running and await deliver(self.on_message, message, on_error=self.on_error):
                self.delivered += 1

    async def stop(self) -> None:
        if self.running:
            self.running = False
            emit_feed_event("disconnected", "FakeLiveDataFeed", reason="stopped")
