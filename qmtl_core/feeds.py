"""The live data feed interface and the one delivery rule every feed shares.

Messages reach ``on_message`` one at a time, in order, on the caller's event loop. A
handler that raises is logged with the message and the feed keeps going: one bad tick
must not tear the stream down.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, Self, TypeVar, runtime_checkable

from qmtl_core.errors import ConfigError
from qmtl_core.events import DEFAULT_EVENTS, Events

MessageHandler = Callable[[dict[str, Any]], Awaitable[None]]
ReconnectHandler = Callable[[], Awaitable[None]]
ErrorHandler = Callable[[BaseException, dict[str, Any]], Awaitable[None] | None]

log = logging.getLogger(__name__)


def is_async_callable(fn: object) -> bool:
    """True for an ``async def`` function or an object with ``async def __call__``."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with ``async def __call__``
    )


def require_async(name: str, fn: object, *, optional: bool = False) -> None:
    """A feed callback must be a coroutine function: a ConfigError naming it otherwise."""
    if fn is None and optional:
        return
    if not is_async_callable(fn):
        raise ConfigError(
            f"must be an async function (async def {name}(...)), got {fn!r}", key=name
        )


def require_callable(name: str, fn: object) -> None:
    """``fn`` is None or callable: a ConfigError naming ``name`` otherwise."""
    if fn is not None and not callable(fn):
        raise ConfigError(f"must be callable, got {fn!r}", key=name)


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


async def report_failure(on_error: ErrorHandler | None, error: BaseException, where: str) -> None:
    """Tell ``on_error`` about a feed-level failure (called as ``on_error(error, {})``)."""
    if on_error is None:
        return
    try:
        outcome = on_error(error, {})
        if outcome is not None:
            await outcome
    except Exception:
        log.exception("%s: on_error failed", where)


async def notify_reconnect(
    on_reconnect: Callable[[], Awaitable[None]] | None, on_error: ErrorHandler | None, where: str
) -> None:
    """Await ``on_reconnect`` (before the new connection's first message); its failure
    is logged and goes to ``on_error``, and delivery carries on."""
    if on_reconnect is None:
        return
    try:
        await on_reconnect()
    except Exception as exc:
        log.exception("%s: on_reconnect failed", where)
        await report_failure(on_error, exc, where)


C = TypeVar("C")


class ConfiguredFeed(Generic[C]):
    """What every configured feed shares: its validated config and the three callbacks,
    checked once (``on_message`` and ``on_reconnect`` async, ``on_error`` callable), and
    the registry's factory :meth:`from_config`, and ``async with feed:`` (start, then
    stop). A feed sets up its own state in :meth:`_setup` and implements :meth:`start`
    and :meth:`stop`; its constructor parses its config and calls :meth:`_configure`."""

    #: Where this feed's events go; the registry that builds it sets its own.
    events: Events = DEFAULT_EVENTS
    config: C
    on_message: MessageHandler
    on_reconnect: ReconnectHandler | None
    on_error: ErrorHandler | None

    @classmethod
    def from_config(
        cls,
        config: C,
        on_message: MessageHandler,
        *,
        on_reconnect: ReconnectHandler | None = None,
        on_error: ErrorHandler | None = None,
    ) -> Self:
        """The registry's factory: a feed from its validated config and callbacks."""
        feed = cls.__new__(cls)
        feed._configure(config, on_message, on_reconnect, on_error)
        return feed

    def _configure(
        self,
        config: C,
        on_message: MessageHandler,
        on_reconnect: ReconnectHandler | None,
        on_error: ErrorHandler | None,
    ) -> None:
        require_async("on_message", on_message)
        require_async("on_reconnect", on_reconnect, optional=True)
        require_callable("on_error", on_error)
        self.config = config
        self.on_message = on_message
        self.on_reconnect = on_reconnect
        self.on_error = on_error
        self._setup(config)

    def _setup(self, config: C) -> None:
        """The feed's own state from its config (called once, by :meth:`_configure`)."""
        raise NotImplementedError

    async def start(self) -> None:
        """Connect and begin delivering messages to ``on_message``."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop delivering and close the connection; prompt in every state."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
