"""Callback checks for WebSocketFeed: callbacks are code, not configuration, so the typed
config does not hold them; a clear ``ConfigError`` naming the argument when the feed is
built, rather than a crash on the reader thread later."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from qmtl_core.errors import ConfigError


def is_async_callable(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with ``async def __call__``
    )


def require_async(name: str, fn: object, *, optional: bool = False) -> None:
    if fn is None and optional:
        return
    if not is_async_callable(fn):
        raise ConfigError(
            f"must be an async function (async def {name}(...)), got {fn!r}", key=name
        )


def require_callable(name: str, fn: object) -> None:
    if fn is not None and not callable(fn):
        raise ConfigError(f"must be callable, got {fn!r}", key=name)


Subscribe = list[Mapping[str, Any] | str]
SubscribeSource = Subscribe | Callable[[], Subscribe] | None
