"""One-Cancels-Other pairs on any brokerage.

Where the connector links legs itself (``native`` or ``emulated``), OCOOrder hands both
legs over in one call. Otherwise (``manual``) it places both legs and a watcher thread
polls them, canceling the sibling as soon as one leg reports any fill. A client that
follows pushed order updates (:class:`PushesOrderUpdates`) wakes the watcher as soon as
one arrives instead of after a poll interval. Polling leaves a window in which both
legs can fill; ``result.both_filled`` reports it loudly.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from qmtl_core.brokerage import (
    BrokerageClient,
    OcoSupport,
    OrderInput,
    PushesOrderUpdates,
    SupportsLinkedOco,
)
from qmtl_core.errors import BrokerageError, OrderNotCancelable, TransientError
from qmtl_core.orders import Order, OrderAck, OrderStatus, validate_order

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OcoResult:
    """The settled state of a pair: which leg filled and the final acks of both."""

    filled: OrderAck | None
    canceled: OrderAck | None
    legs: tuple[OrderAck, OrderAck]

    @property
    def both_filled(self) -> bool:
        return all(leg.filled_quantity > 0 for leg in self.legs)


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

    def execute(self, client: BrokerageClient, *, watch: bool = True) -> tuple[OrderAck, OrderAck]:
        """Place both legs. With manual OCO and ``watch``, start the cancel-on-fill watcher."""
        if self.client is not None:
            raise RuntimeError("this OCOOrder was already executed")
        caps = client.capabilities
        first, second = (
            validate_order(o, order_types=caps.order_types, futures=caps.futures)
            for o in self._orders
        )
        self.client = client
        if caps.oco in (OcoSupport.NATIVE, OcoSupport.EMULATED):
            if not isinstance(client, SupportsLinkedOco):
                raise TypeError(
                    f"{type(client).__name__} claims {caps.oco} OCO but has no place_oco"
                )
            self.legs = client.place_oco(first, second)
        else:
            self.legs = self._place_manually(client, first, second)
        if watch:
            self._watcher = threading.Thread(target=self._watch, name="qmtl-oco-watch", daemon=True)
            self._watcher.start()
        return self.legs

    @staticmethod
    def _place_manually(
        client: BrokerageClient, first: Order, second: Order
    ) -> tuple[OrderAck, OrderAck]:
        a = client.post_order(first)
        try:
            b = client.post_order(second)
        except BrokerageError:
            # A lone leg is not what the caller asked for: take it back, then report.
            try:
                client.cancel_order(a)
            except OrderNotCancelable:
                log.warning("OCO first leg %s already complete; second leg failed", a.id)
            raise
        return a, b

    def check(self) -> OcoResult | None:
        """Poll both legs once and cancel the sibling of a filled leg; the result once settled."""
        if self.client is None or self.legs is None:
            raise RuntimeError("execute() the OCOOrder first")
        client = self.client
        a, b = (client.poll_order_status(leg) for leg in self.legs)
        self.legs = (a, b)
        for filled, other in ((a, b), (b, a)):
            if _has_fill(filled):
                if not other.status.is_complete:
                    try:
                        other = client.cancel_order(other)
                    except OrderNotCancelable:
                        other = client.poll_order_status(other)
                if other.status.is_complete:
                    return self._settle(filled, other)
                return None
        if a.status.is_complete and b.status.is_complete:
            return self._settle(None, None)
        return None

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
        """Stop watching (the legs stay at the venue)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
