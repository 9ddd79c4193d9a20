"""The whole plugin contract: every hook a ``qmtl.connectors`` plugin may implement.

Each hook is documented with a runnable example in ``docs/hooks.md``; a test fails
when a hook here has no section there.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from qmtl_core.events import FeedEvent, OrderEvent
    from qmtl_core.registry import Register

PROJECT = "qmtl"
ENTRY_POINT_GROUP = "qmtl.connectors"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_connectors(register: Register) -> None:
    """Register connectors: ``register("brokerage"|"feed", name, factory, options=...)``.

    Keep it cheap: pass the factory as a ``"module:attr"`` string so that listing
    connectors imports none of the connector's heavy dependencies.
    """


@hookspec
def register_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add sub-commands to the ``qmtl-connectors`` CLI (``subparsers.add_parser``).

    Set ``func`` with ``parser.set_defaults(func=callable)``; it receives the parsed
    arguments and returns the exit code.
    """


@hookspec
def qmtl_order_event(event: OrderEvent) -> None:
    """Observe an order's life: validated, sent, acknowledged, retried, status_changed,
    rejected, unknown. Raising here is logged and never disturbs the order."""


@hookspec
def qmtl_feed_event(event: FeedEvent) -> None:
    """Observe a live feed: connected, disconnected, reconnected, message_dropped."""
