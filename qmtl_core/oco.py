"""One-Cancels-Other pairs on any brokerage.

Where the connector links legs itself (``native`` or ``emulated``), OCOOrder hands both
legs over in one call. Otherwise (``manual``) it places both legs and a watcher (a
thread, or a task with ``execute_async``/``wait_async`` on an event loop) polls them,
canceling the sibling as soon as one leg reports any fill. A client that follows pushed
order updates (:class:`PushesOrderUpdates`) wakes the thread watcher as soon as one
arrives instead of after a poll interval. Polling leaves a window in which both legs can
fill; ``result.both_filled`` reports it loudly.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from qmtl_core.aio import AsyncBrokerage, perform_with
from qmtl_core.brokerage import (
    BrokerageClient,
    OcoSupport,
    OrderInput,
    PushesOrderUpdates,
    SupportsLinkedOco,
)
from qmtl_core.errors import BrokerageError, OrderNotCancelable, TransientError
from qmtl_core.orders import Order, OrderAck, OrderStatus, validate_order
from qmtl_core.steps import Call, Plan, call, run, run_async

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class OcoResult:
    """The settled state of a pair: which leg filled and the final acks of both."""

    filled: OrderAck | None
    canceled: OrderAck | None
    legs: tuple[OrderAck, OrderAck]

    @property
    def both_filled(self) -> bool:
        """True when both legs filled: the polling window of a manual OCO was lost."""
        return all(leg.filled_quantity > 0 for leg in self.legs)


def _performer(client: BrokerageClient) -> Callable[[Call], Any]:
    """The blocking ``perform`` of an OCO plan: ``post``, ``poll`` and ``cancel``."""
    calls: dict[str, Callable[..., Any]] = {
        "post": client.post_order,
        "poll": client.poll_order_status,
        "cancel": client.cancel_order,
    }
    return lambda step: calls[step.name](*step.args)


def _has_fill(ack: OrderAck) -> bool:
    return ack.filled_quantity > 0 or ack.status is OrderStatus.FILLED


class OCOOrder:
    """``OCOOrder(take_profit, stop_loss).execute(client)`` -> both acks."""

    def __init__(
        self, first: OrderInput, second: OrderInput, *, poll_interval: float = 0.5
    ) -> None:
        self._orders = (first, second)
        self.poll_interval = poll_interval
        self.client: BrokerageClient | None = None
        self.legs: tuple[OrderAck, OrderAck] | None = None
        self.result: OcoResult | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._broker: AsyncBrokerage | None = None
        self._task: asyncio.Future[OcoResult] | None = None

    def execute(self, client: BrokerageClient, *, watch: bool = True) -> tuple[OrderAck, OrderAck]:
        """Place both legs. With manual OCO and ``watch``, start the cancel-on-fill watcher."""
        first, second = self._start(client)
        if self.capabilities_linked(client):
            self.legs = client.place_oco(first, second)  # type: ignore[attr-defined]
        else:
            self.legs = run(self._placing(first, second), _performer(client))
        if watch:
            self._watcher = threading.Thread(target=self._watch, name="qmtl-oco-watch", daemon=True)
            self._watcher.start()
        return self.legs

    async def execute_async(
        self, client: BrokerageClient | AsyncBrokerage, *, watch: bool = True
    ) -> tuple[OrderAck, OrderAck]:
        """:meth:`execute` on an event loop, through the client's async twin; with
        ``watch``, the watcher is a task of this loop."""
        broker = client if isinstance(client, AsyncBrokerage) else AsyncBrokerage(client)
        first, second = self._start(broker.client)
        self._broker = broker
        if self.capabilities_linked(broker.client):
            self.legs = await broker.place_oco(first, second)
        else:
            self.legs = await self._run_async(self._placing(first, second))
        if watch:
            self._task = asyncio.ensure_future(self._watch_async())
        return self.legs

    def _start(self, client: BrokerageClient) -> tuple[Order, Order]:
        """Both legs validated for ``client``; an OCOOrder executes once."""
        if self.client is not None:
            raise RuntimeError("this OCOOrder was already executed")
        caps = client.capabilities
        first, second = (
            validate_order(o, order_types=caps.order_types, futures=caps.futures)
            for o in self._orders
        )
        self.client = client
        return first, second

    @staticmethod
    def capabilities_linked(client: BrokerageClient) -> bool:
        """True when ``client`` links the legs itself (native or emulated OCO)."""
        if client.capabilities.oco not in (OcoSupport.NATIVE, OcoSupport.EMULATED):
            return False
        if not isinstance(client, SupportsLinkedOco):
            raise TypeError(
                f"{type(client).__name__} claims {client.capabilities.oco} OCO but has no place_oco"
            )
        return True

    @staticmethod
    def _placing(first: Order, second: Order) -> Plan[tuple[OrderAck, OrderAck]]:
        a: OrderAck = yield from call("post", first)
        try:
            b: OrderAck = yield from call("post", second)
        except BrokerageError:
            # A lone leg is not what the caller asked for: take it back, then report.
            try:
                yield from call("cancel", a)
            except OrderNotCancelable:
                log.warning("OCO first leg %s already complete; second leg failed", a.id)
            raise
        return a, b

    def check(self) -> OcoResult | None:
        """Poll both legs once and cancel the sibling of a filled leg; the result once settled."""
        if self.client is None:
            raise RuntimeError("execute() the OCOOrder first")
        return run(self._checking(), _performer(self.client))

    async def check_async(self) -> OcoResult | None:
        """:meth:`check` on an event loop (after :meth:`execute_async`)."""
        return await self._run_async(self._checking())

    def _checking(self) -> Plan[OcoResult | None]:
        if self.legs is None:
            raise RuntimeError("execute() the OCOOrder first")
        a: OrderAck = yield from call("poll", self.legs[0])
        b: OrderAck = yield from call("poll", self.legs[1])
        self.legs = (a, b)
        for filled, other in ((a, b), (b, a)):
            if _has_fill(filled):
                if not other.status.is_complete:
                    try:
                        other = yield from call("cancel", other)
                    except OrderNotCancelable:
                        other = yield from call("poll", other)
                if other.status.is_complete:
                    return self._settle(filled, other)
                return None
        if a.status.is_complete and b.status.is_complete:
            return self._settle(None, None)
        return None

    async def _run_async(self, plan: Plan[T]) -> T:
        broker = self._broker
        if broker is None:
            raise RuntimeError("execute_async() the OCOOrder first")
        calls: dict[str, Callable[..., Awaitable[Any]]] = {
            "post": broker.post_order,
            "poll": broker.poll_order_status,
            "cancel": broker.cancel_order,
        }
        return await run_async(plan, perform_with(calls), broker.executor)

    async def _watch_async(self) -> OcoResult:
        while True:
            try:
                result = await self.check_async()
            except TransientError as exc:
                log.warning("OCO watcher: transient error, will retry: %s", exc)
                result = None
            if result is not None:
                return result
            await self.next_update()

    async def next_update(self) -> None:
        """Wait until a leg may have changed: a pushed update of either leg when the
        client follows the venue's order stream (:class:`PushesOrderUpdates`), waited in
        the broker's bounded pool so the loop runs on; else one ``poll_interval``."""
        broker, legs = self._broker, self.legs
        client = None if broker is None else broker.client
        if isinstance(client, PushesOrderUpdates) and legs is not None:
            loop = asyncio.get_running_loop()
            wait = client.wait_for_order_update
            if await loop.run_in_executor(broker.executor, wait, legs, self.poll_interval):
                return
        await asyncio.sleep(self.poll_interval)

    async def wait_async(self, timeout: float) -> OcoResult:
        """:meth:`wait` on an event loop: until one leg filled and the other is canceled
        (or both ended); the loop keeps running meanwhile."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._watch_async())
        try:
            return await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            raise TimeoutError(f"OCO pair not settled within {timeout}s") from None

    def _settle(self, filled: OrderAck | None, other: OrderAck | None) -> OcoResult:
        assert self.legs is not None
        legs = self.legs
        if filled is not None and other is not None:
            legs = (filled, other) if filled.id == legs[0].id else (other, filled)
        canceled = other if other is not None and other.status is OrderStatus.CANCELED else None
        self.result = OcoResult(filled, canceled, legs)
        if self.result.both_filled:
            log.error("OCO legs %s and %s both filled", legs[0].id, legs[1].id)
        self._done.set()
        return self.result

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                if self.check() is not None:
                    return
            except TransientError as exc:
                log.warning("OCO watcher: transient error, will retry: %s", exc)
            except Exception as exc:
                log.exception("OCO watcher stopped")
                self.error = exc
                self._done.set()
                return
            self._pause()

    def _pause(self) -> None:
        """Until the next check: a pushed update of a leg, else one poll interval."""
        client, legs = self.client, self.legs
        if isinstance(client, PushesOrderUpdates) and legs is not None:
            if client.wait_for_order_update(legs, self.poll_interval):
                return
        self._stop.wait(self.poll_interval)

    def wait(self, timeout: float) -> OcoResult:
        """Block until one leg filled and the other is canceled (or both ended)."""
        deadline = time.monotonic() + timeout
        while not self._done.is_set():
            if self._watcher is None:
                self.check()
                if self._done.is_set():
                    break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"OCO pair not settled within {timeout}s")
            self._done.wait(min(self.poll_interval, remaining))
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    def stop(self) -> None:
        """Stop watching (the legs stay at the venue). An async watcher is cancelled:
        call this from its loop."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
