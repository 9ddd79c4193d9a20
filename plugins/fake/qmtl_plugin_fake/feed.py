"""FakeLiveDataFeed: forwards what you ``emit`` to ``on_message``, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from qmtl_core.errors import FeedError
from qmtl_core.events import DEFAULT_EVENTS, Events
from qmtl_core.feeds import ErrorHandler, MessageHandler, deliver
from qmtl_core.options import NoOptions


class FakeLiveDataFeed:
    """An in-memory feed for demos and tests; same contract as ``WebSocketFeed``.

    :meth:`emit` hands a message to ``on_message`` once the feed is started.

    Args:
        on_message: ``async def on_message(message: dict)``, called for each message in order.
        on_error: called with the exception when ``on_message`` raises (else it is logged).
        on_reconnect: accepted for the common feed contract; an in-memory feed never
            reconnects.
    """

    #: Where this feed's events go; the registry that builds it sets its own.
    events: Events = DEFAULT_EVENTS

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

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"FakeLiveDataFeed({state}, delivered={self.delivered})"

    @classmethod
    def from_config(
        cls,
        config: NoOptions,
        on_message: MessageHandler,
        *,
        on_error: ErrorHandler | None = None,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
    ) -> FakeLiveDataFeed:
        """The registry's factory (the feed takes no options)."""
        return cls(on_message, on_error=on_error, on_reconnect=on_reconnect)

    async def start(self) -> None:
        """Start delivering; :meth:`emit` raises :class:`FeedError` before this."""
        self.running = True
        self.events.feed("connected", "FakeLiveDataFeed")

    async def emit(self, message: dict[str, Any]) -> None:
        """Deliver ``message`` (after every earlier one).

        Raises:
            FeedError: the feed is not running (``start()`` not awaited, or stopped).
        """
        if not self.running:
            raise FeedError("the feed is not running: await start() first (or it was stopped)")
        async with self._lock:
            if self.running and await deliver(self.on_message, message, on_error=self.on_error):
                self.delivered += 1

    async def stop(self) -> None:
        """Stop delivering (idempotent)."""
        if self.running:
            self.running = False
            self.events.feed("disconnected", "FakeLiveDataFeed", reason="stopped")
