"""What a plugin tells the conformance kit about its venue and feed.

The kit never reaches into a connector's internals: it drives the connector through
the public interface and asks the harness about the venue's side of the story (its
order count, its price, the faults it can inject).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, Protocol

from qmtl_core.feeds import MessageHandler

#: Faults the brokerage suite asks for. A harness returns False for one it cannot
#: produce, and the cases that need it are skipped (never silently passed).
BrokerageFault = Literal[
    "transient",  # the next order request fails before the venue accepts it (e.g. 503)
    "ambiguous",  # the venue accepts the next order, then its answer is lost (timeout)
    "rate_limit",  # the next request is refused with a rate limit and a retry-after
    "reject",  # the venue rejects the next order (4xx / insufficient funds)
]


class VenueHarness(Protocol):
    """The venue behind a brokerage connector under test."""

    #: A symbol the venue trades, and a price it accepts for it.
    symbol: str
    price: str
    #: Secrets the connector was built with; the suite checks none of them leaks.
    secrets: Sequence[str]

    def set_price(self, price: str) -> None:
        """Move the venue's market for ``symbol`` (fills resting orders it crosses)."""

    def order_count(self) -> int:
        """How many orders the venue holds, whatever their state."""

    def inject(self, fault: BrokerageFault, *, retry_after: float = 0.2) -> bool:
        """Arm ``fault`` for the next order request; False if this venue cannot do it."""


class FeedHarness(Protocol):
    """The source behind a live feed under test."""

    def make_feed(
        self,
        on_message: MessageHandler,
        *,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
        subscribe: Sequence[dict[str, Any]] = (),
    ) -> Any:
        """Build the feed under test, connected to this source."""

    async def publish(self, message: dict[str, Any]) -> None:
        """Send one message to every connected feed."""

    async def drop(self) -> bool:
        """Cut every connection (the feed should reconnect); False if unsupported."""

    def subscriptions(self) -> list[dict[str, Any]]:
        """Subscription messages received so far, across connections."""


def wait_until(
    predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` until it holds; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        pause.wait(0.002)


async def until(
    predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
) -> None:
    """:func:`wait_until` for coroutines: the event loop keeps running while it polls."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        await asyncio.sleep(0.002)
