"""The async twin of any brokerage client: ``await`` orders without blocking the loop.

``AsyncBrokerage(client)`` runs the client's own plans (:mod:`qmtl_core.steps`):
validation, idempotent retries, the journal, the rate budget, events and errors are
the sync client's rules, step for step; only the driver differs. Retry and rate
waits are ``asyncio.sleep``; journal and budget store I/O (SQLite, Redis) runs in a
small bounded thread pool, because both stores are blocking clients whose calls take
microseconds to a millisecond: a thread hop is cheaper and simpler than a second,
async store implementation that would have to keep the same atomicity.

How the venue calls are made is the connector's choice (:meth:`async_venue`):

- natively, when the client has an ``async_venue(executor)`` method (the ccxt
  connectors drive a ``ccxt.async_support`` exchange);
- otherwise in the bounded pool: each venue call (one request, no waits) is a
  blocking call on a worker thread, never on the loop.

A client that is not a :class:`~qmtl_core.brokerage.BaseBrokerageClient` (only the
``BrokerageClient`` protocol) has its whole ``post_order`` run in the pool.

Cancellation: a task cancelled while its order is on its way leaves the journal entry
``in_flight`` (reconciliation resolves it at the venue); it is never recorded as
"not placed" on a guess.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar, runtime_checkable

from qmtl_core import runtime
from qmtl_core.brokerage import (
    BaseBrokerageClient,
    BrokerageClient,
    Capabilities,
    OrderInput,
    OrderRefInput,
    SupportsLinkedOco,
)
from qmtl_core.journal import JournalEntry
from qmtl_core.orders import Order, OrderAck
from qmtl_core.steps import Call, Plan, run_async

T = TypeVar("T")

_shared_lock = threading.Lock()
_shared: ThreadPoolExecutor | None = None


def io_executor() -> ThreadPoolExecutor:
    """The process's bounded pool for blocking I/O of async clients (store calls, and
    venue calls of connectors without a native async library); at most
    ``runtime.ASYNC_IO_THREADS`` threads, created on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = started_pool(runtime.ASYNC_IO_THREADS)
        return _shared


def started_pool(workers: int) -> ThreadPoolExecutor:
    """A thread pool whose ``workers`` threads all run already: a pool that starts its
    threads on demand starts them on the event loop, and starting a thread waits for
    it to run (many milliseconds while other threads hold the interpreter lock)."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qmtl-aio")
    barrier = threading.Barrier(workers)
    for future in [pool.submit(barrier.wait) for _ in range(workers)]:
        future.result()
    return pool


@runtime_checkable
class AsyncVenue(Protocol):
    """How an async twin makes a plan's venue calls (``validate``, ``send``, ``lookup``,
    ``fetch``, ``cancel``: see ``BaseBrokerageClient.perform``)."""

    async def perform(self, step: Call) -> Any: ...

    async def aclose(self) -> None: ...


class ExecutorVenue:
    """Venue calls of a blocking client, each one request on a worker thread of
    ``executor``. Validation stays on the loop unless the client overrides ``validate``
    (an override may do I/O, such as loading a venue's markets)."""

    def __init__(self, client: BaseBrokerageClient, executor: Executor) -> None:
        self.client = client
        self.executor = executor
        self._inline_validate = type(client).validate is BaseBrokerageClient.validate

    async def perform(self, step: Call) -> Any:
        if step.name == "validate" and self._inline_validate:
            return self.client.validate(*step.args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.client.perform, step)

    async def aclose(self) -> None:
        """Nothing of its own to close: the client keeps its connections."""


class AsyncBrokerage:
    """``await broker.post_order(order)``, ``poll_order_status``, ``cancel_order`` for
    ``client``, with the client's validation, retries, journal, budget and events.

    One instance serves any number of concurrent tasks of one event loop. ``executor``
    is the bounded pool for blocking I/O (default: :func:`io_executor`).
    """

    def __init__(self, client: BrokerageClient, *, executor: Executor | None = None) -> None:
        self.client = client
        self.executor = executor if executor is not None else io_executor()
        self.venue: AsyncVenue | None = None
        if isinstance(client, BaseBrokerageClient):
            native = getattr(client, "async_venue", None)
            self.venue = native(self.executor) if callable(native) else None
            if self.venue is None:
                self.venue = ExecutorVenue(client, self.executor)

    @property
    def capabilities(self) -> Capabilities:
        """The wrapped client's capabilities (order types, OCO support, futures)."""
        return self.client.capabilities

    @property
    def journal(self) -> Any:
        """The wrapped client's order journal (None without one)."""
        return getattr(self.client, "journal", None)

    @property
    def connector_name(self) -> str:
        """The wrapped client's connector name (events, journal entries)."""
        name = getattr(self.client, "connector_name", None)
        return name if isinstance(name, str) else type(self.client).__name__

    def __repr__(self) -> str:
        return f"AsyncBrokerage({self.client!r})"

    async def run(self, plan: Plan[T]) -> T:
        """Drive one of the client's plans on the running loop."""
        assert self.venue is not None, "plans need a BaseBrokerageClient"
        return await run_async(plan, self.venue.perform, self.executor)

    async def _in_pool(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kw))

    async def post_order(self, order: OrderInput) -> OrderAck:
        """Validate and place ``order`` once (see ``BaseBrokerageClient.post_order``)."""
        client = self.client
        if isinstance(client, BaseBrokerageClient):
            return await self.run(client.posting(order))
        return await self._in_pool(client.post_order, order)

    async def poll_order_status(self, order: OrderRefInput, **options: Any) -> OrderAck:
        """The order's current state; ``options`` as the client's (e.g. ccxt ``symbol=``)."""
        client = self.client
        if isinstance(client, BaseBrokerageClient):
            return await self.run(client.polling(order, **options))
        return await self._in_pool(client.poll_order_status, order, **options)

    async def cancel_order(self, order_id: OrderRefInput, **options: Any) -> OrderAck:
        """Cancel; raises ``OrderNotCancelable`` if the order already filled or ended."""
        client = self.client
        if isinstance(client, BaseBrokerageClient):
            return await self.run(client.canceling(order_id, **options))
        return await self._in_pool(client.cancel_order, order_id, **options)

    async def lookup_order(self, order: Order) -> OrderAck | None:
        """The venue's answer for ``order`` by its ``client_order_id`` (None if absent)."""
        client = self.client
        if isinstance(client, BaseBrokerageClient):
            return await self.run(client.looking_up(order))
        lookup: Callable[[Order], OrderAck | None] | None = getattr(client, "lookup_order", None)
        if lookup is None:
            raise TypeError(f"{type(client).__name__} has no lookup_order(order)")
        return await self._in_pool(lookup, order)

    async def reconcile(self) -> list[JournalEntry]:
        """Resolve the client's in-flight and unknown journal entries at the venue."""
        client = self.client
        if isinstance(client, BaseBrokerageClient):
            return await self.run(client.reconciling())
        reconcile: Callable[[], list[JournalEntry]] | None = getattr(client, "reconcile", None)
        return [] if reconcile is None else await self._in_pool(reconcile)

    async def place_oco(self, first: Order, second: Order) -> tuple[OrderAck, OrderAck]:
        """Both legs in one call, for clients that link OCO legs themselves."""
        client = self.client
        if not isinstance(client, SupportsLinkedOco):
            raise TypeError(f"{type(client).__name__} has no place_oco(first, second)")
        return await self._in_pool(client.place_oco, first, second)

    async def aclose(self) -> None:
        """Close the native async session (ccxt's); the wrapped client stays open."""
        if self.venue is not None:
            await self.venue.aclose()

    async def __aenter__(self) -> AsyncBrokerage:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def perform_with(
    calls: Mapping[str, Callable[..., Awaitable[Any]]],
) -> Callable[[Call], Awaitable[Any]]:
    """A ``perform`` for :func:`qmtl_core.steps.run_async` from named coroutine functions."""

    async def perform(step: Call) -> Any:
        return await calls[step.name](*step.args)

    return perform
