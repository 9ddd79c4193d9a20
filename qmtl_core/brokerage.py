"""The brokerage interface and the base class that gives every client the same safety.

A plugin implements four small venue calls (``_send``, ``_lookup``, ``_fetch``,
``_cancel``) that translate venue errors into ``qmtl_core.errors``; the base class
does validation, idempotent submission with retries, and events, identically for all.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from qmtl_core.errors import (
    AuthenticationError,
    OrderNotCancelable,
    OrderRejected,
    OrderStatusUnknown,
    TransientError,
)
from qmtl_core.events import DEFAULT_EVENTS, Events
from qmtl_core.execution import RetryPolicy, call_with_retries, submit_order
from qmtl_core.orders import (
    SPOT_ORDER_TYPES,
    Order,
    OrderAck,
    OrderStatus,
    OrderType,
    order_ref,
    validate_order,
)
from qmtl_core.rate_budget import RateBudget
from qmtl_core.rate_limits import RateLimitConfig, default_account
from qmtl_core.rate_stores import open_rate_budget
from qmtl_core.redaction import Secret

if TYPE_CHECKING:
    from qmtl_core.journal import JournalEntry, OrderJournal

#: Last statuses a client remembers (for ``status_changed`` events); oldest go first.
MAX_TRACKED_ORDERS = 100_000
log = logging.getLogger("qmtl_core.brokerage")


class OcoSupport(StrEnum):
    """How a connector links two OCO legs (the seed's table)."""

    NATIVE = "native"  # the venue links the legs itself
    EMULATED = "emulated"  # the connector cancels the sibling atomically on fill
    MANUAL = "manual"  # OCOOrder polls and cancels the sibling


@dataclass(frozen=True)
class Capabilities:
    oco: OcoSupport
    order_types: frozenset[OrderType] = SPOT_ORDER_TYPES
    futures: bool = False


OrderInput = Mapping[str, Any] | Order
OrderRefInput = OrderAck | Mapping[str, Any] | str


@runtime_checkable
class BrokerageClient(Protocol):
    """What Runner, OCOOrder and strategies rely on."""

    capabilities: Capabilities

    def post_order(self, order: OrderInput) -> OrderAck: ...

    def poll_order_status(self, order: OrderRefInput) -> OrderAck: ...

    def cancel_order(self, order_id: OrderRefInput) -> OrderAck: ...


@runtime_checkable
class SupportsLinkedOco(BrokerageClient, Protocol):
    """A client whose venue (or engine) links two legs itself: NATIVE or EMULATED OCO."""

    def place_oco(self, first: Order, second: Order) -> tuple[OrderAck, OrderAck]: ...


@runtime_checkable
class PushesOrderUpdates(Protocol):
    """A client that may follow the venue's pushed order updates (e.g. ccxt ``stream_orders``).

    ``OCOOrder`` waits on it instead of sleeping a poll interval, so a sibling is
    canceled as soon as a fill is pushed.
    """

    def wait_for_order_update(self, orders: Sequence[OrderAck], timeout: float) -> bool:
        """Block until news of one of ``orders`` was pushed or ``timeout`` passed (True),
        or return False at once when no update stream is current (the caller sleeps)."""
        ...


#: Statuses with which a venue says "too many requests": 429, and Binance's 418 ban.
RATE_LIMIT_STATUSES = frozenset({418, 429})


class BaseBrokerageClient(ABC):
    """Validation, idempotent retries, events and the account's rate budget around four
    venue calls.

    A plugin calls :meth:`spend` before each request it makes and :meth:`answered`
    after each answer; the budget (a per-process one unless :meth:`open_rate_budget`
    is called) waits, blocks the account after a 429/418 and follows the venue's usage.
    """

    capabilities: Capabilities
    retry_policy: RetryPolicy = RetryPolicy(max_retries=0)
    #: Where this client's order events go; the registry that builds it sets its own.
    events: Events = DEFAULT_EVENTS

    def __init__(self, *, journal: OrderJournal | None = None) -> None:
        self._status_lock = threading.Lock()
        self._last_status: OrderedDict[str, OrderStatus] = OrderedDict()
        self.journal = journal
        self.rate_budget: RateBudget | None = None

    def set_journal(self, journal: OrderJournal | None) -> None:
        """Journal every order of this client in ``journal`` (None: no journal)."""
        self.journal = journal

    def open_rate_budget(
        self, venue: str, key: str | Secret | None, config: RateLimitConfig
    ) -> RateBudget:
        """The shared budget of the connector's rate options (:class:`RateLimitConfig`).

        ``account`` defaults to ``venue`` plus a fingerprint of ``key``, so every client
        trading with one key shares one budget; ``state`` is the ``connectors: state:``
        URL (default: this process only).
        """
        self.rate_budget = open_rate_budget(
            config.state,
            config.account or default_account(venue, key),
            config.limits,
            max_wait=config.rate_limit_max_wait,
        )
        return self.rate_budget

    def spend(self, costs: Mapping[str, int], ref: str) -> None:
        """Take one request's ``costs`` from the budget before sending it.

        Waits (each wait is a ``rate_limited`` event for order ``ref``) or raises
        :class:`~qmtl_core.errors.RateLimited`; then the request must not be sent.
        """
        if self.rate_budget is None:
            return

        def waiting(pool: str, seconds: float) -> None:
            self.events.order(
                "rate_limited", self.connector_name, ref, pool=pool, seconds=round(seconds, 3)
            )

        self.rate_budget.acquire(costs, on_wait=waiting)

    def answered(
        self, status: int | None, retry_after: float | None, used: Mapping[str, int]
    ) -> None:
        """After each answer: ``used`` is what the venue says it counted; a 429/418 blocks
        the whole account for ``retry_after`` (every process sharing the budget)."""
        if self.rate_budget is None:
            return
        if used:
            self.rate_budget.observe(used)
        if status in RATE_LIMIT_STATUSES:
            self.rate_budget.block(retry_after)

    @property
    def connector_name(self) -> str:
        return type(self).__name__

    def validate(self, order: OrderInput) -> Order:
        """The order as this connector would send it; raises ``OrderValidationError``."""
        caps = self.capabilities
        return validate_order(order, order_types=caps.order_types, futures=caps.futures)

    def post_order(self, order: OrderInput) -> OrderAck:
        """Validate and place ``order`` once. With a journal, the order is durably
        journaled before it leaves; a ``client_order_id`` the journal already holds
        sends nothing and returns that order's latest ack (``OrderStatusUnknown`` while
        its outcome is unresolved)."""
        validated = self.validate(order)
        coid = validated.client_order_id
        self.events.order("validated", self.connector_name, coid, symbol=validated.symbol)
        journal = self.journal
        if journal is None or journal.holds(coid):
            return self._submit(validated)
        from qmtl_core.journal.send import send_journaled

        result = send_journaled(
            journal,
            validated,
            connector=self.connector_name,
            send=self._submit,
            lookup=self.lookup_order,
        )
        if result.sent:
            assert result.ack is not None
            return result.ack
        held = result.entry
        if held.unresolved or held.ack is None:
            raise OrderStatusUnknown(
                coid,
                f"the journal holds it as {held.state} (owner {held.owner}); nothing was "
                "sent: reconcile (Runner.reconcile or client.reconcile) before sending again",
            )
        return held.ack

    def _submit(self, validated: Order) -> OrderAck:
        coid = validated.client_order_id
        started = time.perf_counter()
        try:
            ack = submit_order(
                validated,
                send=self._send,
                lookup=self._lookup,
                policy=self.retry_policy,
                connector=self.connector_name,
                events=self.events,
            )
        except (OrderRejected, AuthenticationError) as exc:
            self.events.order("rejected", self.connector_name, coid, reason=str(exc))
            raise
        except OrderStatusUnknown as exc:
            self.events.order("unknown", self.connector_name, coid, reason=str(exc))
            raise
        except TransientError as exc:
            # Every attempt failed before the venue could act: the order does not exist.
            self.events.order("failed", self.connector_name, coid, reason=str(exc))
            raise
        self.events.order(
            "acknowledged",
            self.connector_name,
            coid,
            id=ack.id,
            status=ack.status.value,
            latency=time.perf_counter() - started,
        )
        self._remember(ack)
        return ack

    def lookup_order(self, order: Order) -> OrderAck | None:
        """The venue's answer for ``order`` found by its ``client_order_id`` (None when the
        venue has no such order); transient failures are retried. Never sends."""
        return call_with_retries(lambda: self._lookup(order), self.retry_policy)

    def reconcile(self) -> list[JournalEntry]:
        """Resolve this connector's in-flight and unknown journal entries at the venue
        (see ``qmtl_core.journal.reconcile``); returns the entries it resolved."""
        from qmtl_core.journal.reconcile import reconcile

        if self.journal is None:
            return []
        return reconcile(self.journal, self.lookup_order, connector=self.connector_name)

    def poll_order_status(self, order: OrderRefInput) -> OrderAck:
        ref = order_ref(order)
        ack = call_with_retries(lambda: self._fetch(ref), self.retry_policy)
        self._track(ack)
        return ack

    def cancel_order(self, order_id: OrderRefInput) -> OrderAck:
        ref = order_ref(order_id)
        attempts = 0

        def cancel() -> OrderAck:
            nonlocal attempts
            attempts += 1
            try:
                return self._cancel(ref)
            except OrderNotCancelable as exc:
                # A retry that finds the order canceled: the attempt whose answer was lost
                # (timeout, dropped connection) did cancel it, so report that success.
                if attempts == 1 or exc.status != OrderStatus.CANCELED.value:
                    raise
                return self._fetch(ref)

        ack = call_with_retries(cancel, self.retry_policy)
        self._track(ack)
        return ack

    def _remember(self, ack: OrderAck) -> OrderStatus | None:
        """Remember the latest status (bounded); returns the one it replaces."""
        with self._status_lock:
            before = self._last_status.pop(ack.client_order_id, None)
            self._last_status[ack.client_order_id] = ack.status
            if len(self._last_status) > MAX_TRACKED_ORDERS:
                self._last_status.popitem(last=False)
        return before

    def _track(self, ack: OrderAck) -> None:
        """A later answer (poll, cancel): event on a status change, and into the journal."""
        before = self._remember(ack)
        if before is not None and before != ack.status:
            self.events.order(
                "status_changed",
                self.connector_name,
                ack.client_order_id,
                id=ack.id,
                previous=before.value,
                status=ack.status.value,
            )
        if self.journal is not None:
            try:
                self.journal.observe(ack)
            except Exception:
                log.exception("order %s: storing its status in the journal failed", ack.id)

    @abstractmethod
    def _send(self, order: Order) -> OrderAck:
        """Place the order once. Raise TransientError(ambiguous=...) or OrderRejected."""

    @abstractmethod
    def _lookup(self, order: Order) -> OrderAck | None:
        """Find the order by ``client_order_id``; ``None`` when the venue has no such order."""

    @abstractmethod
    def _fetch(self, ref: str) -> OrderAck:
        """The order with venue id or client id ``ref``; raise OrderNotFound if unknown."""

    @abstractmethod
    def _cancel(self, ref: str) -> OrderAck:
        """Cancel; raise OrderNotCancelable when the order is already complete."""
