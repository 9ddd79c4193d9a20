"""Record order and feed events in tests: ``with record_events() as events:``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from qmtl_core.events import FeedEvent, OrderEvent
from qmtl_core.hookspecs import hookimpl
from qmtl_core.registry import default_registry


class EventRecorder:
    """An observer plugin that keeps every event it sees, in order."""

    def __init__(self) -> None:
        self.events: list[OrderEvent | FeedEvent] = []

    @hookimpl
    def qmtl_order_event(self, event: OrderEvent) -> None:
        self.events.append(event)

    @hookimpl
    def qmtl_feed_event(self, event: FeedEvent) -> None:
        self.events.append(event)

    def order_events(self, client_order_id: str | None = None) -> list[OrderEvent]:
        return [
            e
            for e in self.events
            if isinstance(e, OrderEvent)
            and (client_order_id is None or e.client_order_id == client_order_id)
        ]

    def kinds(self, client_order_id: str) -> list[str]:
        """The kinds of one order's events, in order."""
        return [e.kind for e in self.order_events(client_order_id)]

    def of(self, kind: str) -> list[OrderEvent | FeedEvent]:
        return [e for e in self.events if e.kind == kind]


@contextmanager
def record_events() -> Iterator[EventRecorder]:
    """Register an :class:`EventRecorder` on the default registry for the ``with`` block."""
    recorder = EventRecorder()
    manager = default_registry().plugin_manager
    name = f"qmtl-event-recorder-{id(recorder)}"
    manager.register(recorder, name=name)
    try:
        yield recorder
    finally:
        manager.unregister(name=name)
