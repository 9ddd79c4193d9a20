"""The live data feed interface and the one delivery rule every feed shares.

Messages reach ``on_message`` one at a time, in order, on the caller's event loop. A
handler that raises is logged with the message and the feed keeps going: one bad tick
must not tear the stream down.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

MessageHandler = Callable[[dict[str, Any]], Awaitable[None]]
ErrorHandler = Callable[[BaseException, dict[str, Any]], Awaitable[None] | None]

log = logging.getLogger(__name__)


@runtime_checkable
class LiveDataFeed(Protocol):
    """What a strategy relies on in a feed: ``await start()``, messages to
    ``on_message`` one at a time in order, ``await stop()``."""

    on_message: MessageHandler

    async def start(self) -> None:
        """Connect and start delivering; returns once the feed is up.

        Raises:
            FeedError: the feed cannot start (its error says why).
        """
        ...

    async def stop(self) -> None:
        """Stop delivering; idempotent."""
        ...


async def deliver(
    handler: MessageHandler,
    message: dict[str, Any],
    *,
    on_error: ErrorHandler | None = None,
) -> bool:
    """Await ``handler(message)``; contain and report its failure. True on success."""
    try:
        await handler(message)
        return True
    except Exception as exc:
        log.exception("on_message failed for message %r", message)
        if on_error is not None:
            try:
                outcome = on_error(exc, message)
                if outcome is not None:
                    await outcome
            except Exception:
                log.exception("on_error failed")
        return False
