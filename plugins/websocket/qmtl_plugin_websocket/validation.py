"""Argument checks for WebSocketFeed: a clear ``ConfigError`` naming the option and the fix,
raised when the feed is built rather than as a crash on the reader thread later."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from qmtl_core.errors import ConfigError
from qmtl_core.options import number, whole_number
from qmtl_core.redaction import redact


def positive(name: str, value: float | None) -> float | None:
    """``value`` as seconds > 0, or None (meaning: the runtime default)."""
    return None if value is None else number(name, value, positive=True, unit="number of seconds")


def whole(name: str, value: int | None, minimum: int) -> int | None:
    return None if value is None else whole_number(name, value, minimum)


Subscribe = list[Mapping[str, Any] | str]
SubscribeSource = Subscribe | Callable[[], Subscribe] | None


def subscriptions(value: object) -> SubscribeSource:
    """A list of messages (mappings or text), a callable that builds one, or None."""
    if value is None or callable(value):
        return value
    if isinstance(value, list | tuple) and all(isinstance(m, Mapping | str) for m in value):
        return list(value)
    raise ConfigError(
        "must be a list of messages (mappings sent as JSON, or text) or a callable "
        f"returning one, got {redact(value)!r}",
        key="subscribe",
    )
