"""Order and feed events, delivered to observer plugins and to the structured log.

Observers are isolated: one that raises is logged and the order carries on.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import pluggy
from pluggy import HookImpl

from qmtl_core.hookspecs import hookimpl
from qmtl_core.redaction import redact

if TYPE_CHECKING:
    import logging

OrderEventKind = Literal[
    "validated",
    "sent",
    "acknowledged",
    "retried",
    "status_changed",
    "rejected",
    "unknown",
    "failed",
    "rate_limited",
]
FeedEventKind = Literal["connected", "disconnected", "reconnected", "message_dropped", "delivered"]


class _Everything:
    """Contains every event kind: what an observer hears unless it says otherwise."""

    def __contains__(self, kind: object) -> bool:
        return True


#: An observer may set ``qmtl_event_kinds`` (a set of order and feed event kinds) to
#: hear only those; without it, it hears every kind (this).
ALL_KINDS: Container[str] = _Everything()


@functools.cache
def _log() -> logging.Logger:
    """The events' logger. ``logging`` is imported at the first event, not when plugins
    load: listing connectors logs nothing, and the import is a tenth of its start-up."""
    import logging

    return logging.getLogger("qmtl_core.events")


@dataclass(frozen=True)
class OrderEvent:
    """One step of an order's life, as observers receive it (``qmtl_order_event``)."""

    kind: OrderEventKind
    connector: str
    client_order_id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class FeedEvent:
    """One change in a live feed's state, as observers receive it (``qmtl_feed_event``)."""

    kind: FeedEventKind
    feed: str
    data: Mapping[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


class Events:
    """Delivers events to the observers of one plugin manager.

    Every registry has one (``registry.events``) and hands it to the connectors it
    builds, so observers registered on an explicit registry hear its connectors. A
    connector built directly uses :data:`DEFAULT_EVENTS`, the default registry's.
    """

    def __init__(self, manager: Callable[[], pluggy.PluginManager]) -> None:
        self._manager = manager
        #: hook name -> (its hook caller, its observers when last looked, and by kind
        #: those that may hear it: see :func:`_candidates`).
        self._hooks: dict[str, tuple[Any, list[HookImpl], dict[str, _Candidates]]] = {}

    def order(
        self, kind: OrderEventKind, connector: str, client_order_id: str, **data: Any
    ) -> None:
        """Tell every observer about an order's step (secrets in ``data`` redacted)."""
        impls = self._listeners("qmtl_order_event", kind, order_level(kind))
        if impls:
            event = OrderEvent(kind, connector, client_order_id, redact(data))
            self._deliver(impls, event)

    def feed(self, kind: FeedEventKind, feed: str, **data: Any) -> None:
        """Tell every observer about a feed's step (secrets in ``data`` redacted)."""
        impls = self._listeners("qmtl_feed_event", kind, feed_level(kind))
        if impls:
            self._deliver(impls, FeedEvent(kind, feed, redact(data)))

    def _listeners(self, hook_name: str, kind: str, level: int) -> list[HookImpl]:
        """The observers of ``hook_name`` that hear ``kind``, in call order: not one
        whose ``qmtl_event_kinds`` leaves ``kind`` out, nor the built-in log observer
        while its logger drops lines of ``level``. An event nobody hears is not even
        built (its data not redacted), which is most of them.

        The plugin manager is resolved at the first event; which observers may hear a
        kind is worked out again only when observers are registered or unregistered
        (``qmtl_event_kinds`` is read then), the log level at every event."""
        hooked = self._hooks.get(hook_name)
        if hooked is None:
            caller = getattr(self._manager().hook, hook_name)
            hooked = self._hooks[hook_name] = (caller, caller.get_hookimpls(), {})
        caller, seen, by_kind = hooked
        impls = caller.get_hookimpls()
        if impls != seen:
            hooked = self._hooks[hook_name] = (caller, impls, {})
            by_kind = hooked[2]
        candidates = by_kind.get(kind)
        if candidates is None:
            candidates = by_kind[kind] = _candidates(impls, kind)
        with_log, without_log = candidates
        if with_log is without_log or _log().isEnabledFor(level):
            return with_log
        return without_log

    def _deliver(self, impls: list[HookImpl], event: OrderEvent | FeedEvent) -> None:
        for impl in impls:
            try:
                impl.function(event=event)
            except Exception:
                _log().exception("observer %s failed on %s event", impl.plugin_name, event.kind)


#: Observers that may hear a kind, in call order: with the built-in log observer (which
#: hears it only while its logger takes lines of the kind's level) and without it; one
#: list when the log observer is not among them. Read only.
_Candidates = tuple[list[HookImpl], list[HookImpl]]


def _candidates(impls: list[HookImpl], kind: str) -> _Candidates:
    """Of ``impls`` (pluggy's registration order), those that may hear ``kind``, in call
    order (pluggy calls the last registered first)."""
    found = []
    for impl in reversed(impls):
        plugin = impl.plugin
        if isinstance(plugin, LoggingObserver) or kind in getattr(
            plugin, "qmtl_event_kinds", ALL_KINDS
        ):
            found.append(impl)
    without_log = [impl for impl in found if not isinstance(impl.plugin, LoggingObserver)]
    return (found, found) if len(without_log) == len(found) else (found, without_log)


def _default_manager() -> pluggy.PluginManager:
    manager: pluggy.PluginManager = _registry_module().default_registry().plugins.manager
    return manager


@functools.cache
def _registry_module() -> ModuleType:
    """``qmtl_core.registry`` (it imports this module): imported on the first event, not
    on every one."""
    import qmtl_core.registry

    return qmtl_core.registry


#: The default registry's events, looked up on each event (the registry is built lazily).
DEFAULT_EVENTS = Events(_default_manager)


# Log levels (those of ``logging``, which is imported lazily). "delivered" comes once per
# batch of messages: worth a metric, too chatty for INFO.
_DEBUG, _INFO, _WARNING = 10, 20, 30
_FEED_LEVELS = {"message_dropped": _WARNING, "delivered": _DEBUG}
_WARNING_ORDER_KINDS = frozenset({"rejected", "unknown", "retried", "failed", "rate_limited"})


def order_level(kind: str) -> int:
    """The log level of an order event: WARNING when something went wrong, else INFO."""
    return _WARNING if kind in _WARNING_ORDER_KINDS else _INFO


def feed_level(kind: str) -> int:
    """The log level of a feed event (``delivered`` is DEBUG: it comes per batch)."""
    return _FEED_LEVELS.get(kind, _INFO)


def _fields(data: Mapping[str, Any]) -> str:
    # Floats (delays, seconds) to the millisecond: delay=0.105, not 0.10541159785651551.
    return " ".join(
        f"{key}={round(value, 3) if isinstance(value, float) else value!r}"
        for key, value in data.items()
    )


class LoggingObserver:
    """The built-in subscriber: one ``key=value`` log line per event, secrets redacted."""

    @hookimpl
    def qmtl_order_event(self, event: OrderEvent) -> None:
        level = order_level(event.kind)
        log = _log()
        if not log.isEnabledFor(level):
            return  # nobody reads the line: do not format it
        log.log(
            level,
            "order_event kind=%s connector=%s client_order_id=%s %s",
            event.kind,
            event.connector,
            event.client_order_id,
            _fields(event.data),
        )

    @hookimpl
    def qmtl_feed_event(self, event: FeedEvent) -> None:
        level = feed_level(event.kind)
        log = _log()
        if not log.isEnabledFor(level):
            return
        log.log(level, "feed_event kind=%s feed=%s %s", event.kind, event.feed, _fields(event.data))
