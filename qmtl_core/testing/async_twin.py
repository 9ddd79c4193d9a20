"""The brokerage conformance kit run against a client's async twin (``AsyncBrokerage``).

The kit's cases call ``post_order``, ``poll_order_status`` and ``cancel_order`` from
test threads. :class:`BlockingTwin` gives them exactly that interface, each call
awaited on one event loop running in a background thread, so every case of
:class:`~qmtl_core.testing.BrokerageConformance` (concurrency and OCO included) runs
through the async driver, the async venue calls and their waits, unchanged::

    class TestMyBrokerAsync(AsyncTwinConformance):
        @pytest.fixture
        def blocking_brokerage(self, venue): return MyBrokerageClient(...)
        @pytest.fixture
        def venue(self): return MyVenueHarness(...)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from qmtl_core.aio import AsyncBrokerage
from qmtl_core.brokerage import BrokerageClient, Capabilities, OrderInput, OrderRefInput
from qmtl_core.orders import Order, OrderAck
from qmtl_core.testing.brokerage_suite import BrokerageConformance

T = TypeVar("T")


class BlockingTwin:
    """The blocking brokerage interface over an :class:`AsyncBrokerage` whose calls all
    run on one event loop in a background thread."""

    def __init__(
        self,
        client: BrokerageClient,
        prepare: Callable[[AsyncBrokerage], None] | None = None,
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="qmtl-async-twin", daemon=True
        )
        self._thread.start()
        self.twin = AsyncBrokerage(client)
        if prepare is not None:
            prepare(self.twin)
        self.capabilities: Capabilities = self.twin.capabilities

    def __repr__(self) -> str:
        return f"BlockingTwin({self.twin!r})"

    def _await(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def post_order(self, order: OrderInput) -> OrderAck:
        return self._await(self.twin.post_order(order))

    def poll_order_status(self, order: OrderRefInput) -> OrderAck:
        return self._await(self.twin.poll_order_status(order))

    def cancel_order(self, order_id: OrderRefInput) -> OrderAck:
        return self._await(self.twin.cancel_order(order_id))

    def place_oco(self, first: Order, second: Order) -> tuple[OrderAck, OrderAck]:
        return self._await(self.twin.place_oco(first, second))

    def close(self) -> None:
        """Close the twin's async session and stop its loop."""
        self._await(self.twin.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class AsyncTwinConformance(BrokerageConformance):
    """Every conformance case through the async twin of ``blocking_brokerage``; a
    subclass may override the ``prepare_twin`` fixture (e.g. to route the twin to a
    loopback peer)."""

    @pytest.fixture
    def blocking_brokerage(self) -> BrokerageClient:
        raise NotImplementedError("provide a 'blocking_brokerage' fixture (the sync client)")

    @pytest.fixture
    def prepare_twin(self) -> Callable[[AsyncBrokerage], None] | None:
        """Called once with the twin before the first case uses it."""
        return None

    @pytest.fixture
    def brokerage(
        self,
        blocking_brokerage: BrokerageClient,
        prepare_twin: Callable[[AsyncBrokerage], None] | None,
    ) -> Iterator[BlockingTwin]:
        twin = BlockingTwin(blocking_brokerage, prepare_twin)
        try:
            yield twin
        finally:
            twin.close()
