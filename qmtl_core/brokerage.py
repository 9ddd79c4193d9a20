"""The brokerage interface and the base class that gives every client the same safety.

A plugin implements four small venue calls (``_send``, ``_lookup``, ``_fetch``,
``_cancel``) that translate venue errors into ``qmtl_core.errors``; the base class
does validation, idempotent submission with retries, and events, identically for all.
Each operation is a plan (:mod:`qmtl_core.steps`): ``post_order`` runs ``posting``
blocking, :class:`qmtl_core.aio.AsyncBrokerage` runs the same plan on an event loop.
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
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from qmtl_core import runtime
from qmtl_core.errors import (
    AuthenticationError,
    OrderNotCancelable,
    OrderRejected,
    OrderStatusUnknown,
    TransientError,
)
from qmtl_core.events import DEFAULT_EVENTS, Events
from qmtl_core.execution import RetryPolicy, retrying, submission
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
from qmtl_core.steps import Call, Plan, blocking, call, run

if TYPE_CHECKING:
    from qmtl_core.journal import JournalEntry, OrderJournal

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

    def post_order(self, order: OrderInput) -> OrderAck:
        """Place ``order`` (a mapping of order fields or an :class:`Order`) once.

        Raises:
            OrderValidationError: the order breaks a rule; nothing was sent.
            OrderRejected: the venue refused it.
            OrderStatusUnknown: the venue may hold it; look it up, never re-send blind.
        """
        ...

    def poll_order_status(self, order: OrderRefInput) -> OrderAck:
        """The order's current state at the venue.

        Args:
            order: the ack from :meth:`post_order`, a mapping with ``id``, or an id string.

        Raises:
            OrderNotFound: the venue has no such order.
        """
        ...

    def cancel_order(self, order_id: OrderRefInput) -> OrderAck:
        """Cancel the order; returns its final ack.

        Args:
            order_id: the ack from :meth:`post_order`, a mapping with ``id``, or an id string.

        Raises:
            OrderNotCancelable: it already filled or ended.
            OrderNotFound: the venue has no such order.
        """
        ...


@runtime_checkable
class SupportsLinkedOco(BrokerageClient, Protocol):
    """A client whose venue (or engine) links two legs itself: NATIVE or EMULATED OCO."""

    def place_oco(self, first: Order, second: Order) -> tuple[OrderAck, OrderAck]: ...


#: The venue calls of a brokerage plan (``Call.name``) -> the client method making it.
VENUE_CALLS: Mapping[str, str] = {
    "validate": "validate",
    "send": "_send",
    "lookup": "_lookup",
    "fetch": "_fetch",
    "cancel": "_cancel",
}


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
        budget = self.rate_budget
        # Almost every request finds room at once: one store step, no plan to drive.
        if budget is not None and not budget.try_acquire(costs):
            run(self.spending(costs, ref))

    def spending(self, costs: Mapping[str, int], ref: str) -> Plan[None]:
        """The plan of :meth:`spend` (an async connector awaits it: waits are
        ``asyncio.sleep``, the budget's store I/O stays off the loop)."""
        budget = self.rate_budget
        if budget is None:
            return

        def waiting(pool: str, seconds: float) -> None:
            self.events.order(
                "rate_limited", self.connector_name, ref, pool=pool, seconds=round(seconds, 3)
            )

        yield from budget.acquisition(costs, on_wait=waiting)

    def answered(
        self, status: int | None, retry_after: float | None, used: Mapping[str, int]
    ) -> None:
        """After each answer: ``used`` is what the venue says it counted; a 429/418 blocks
        the whole account for ``retry_after`` (every process sharing the budget)."""
        budget = self.rate_budget  # the steps of :meth:`answering`, called: no plan to drive
        if budget is None:
            return
        if used:
            budget.observe(used)
        if status in RATE_LIMIT_STATUSES:
            budget.block(retry_after)

    def answering(
        self, status: int | None, retry_after: float | None, used: Mapping[str, int]
    ) -> Plan[None]:
        """The plan of :meth:`answered`."""
        budget = self.rate_budget
        if budget is None:
            return
        if used:
            yield from blocking(partial(budget.observe, used))
        if status in RATE_LIMIT_STATUSES:
            yield from blocking(partial(budget.block, retry_after))

    @property
    def connector_name(self) -> str:
        """The name journal entries and events carry (the class name unless overridden)."""
        return type(self).__name__

    def validate(self, order: OrderInput) -> Order:
        """The order as this connector would send it; raises ``OrderValidationError``."""
        caps = self.capabilities
        return validate_order(order, order_types=caps.order_types, futures=caps.futures)

    def post_order(self, order: OrderInput) -> OrderAck:
        """Validate and place ``order`` once. With a journal, the order is durably
        journaled before it leaves; a ``client_order_id`` the journal already holds
        sends nothing and returns that order's latest ack (``OrderStatusUnknown`` while
        its outcome is unresolved).

        Args:
            order: a mapping of order fields (``symbol``, ``side``, ``type``, ``quantity``,
                ``limit_price`` ...) or a validated :class:`Order`.

        Raises:
            OrderValidationError: the order breaks a rule; nothing was sent.
            OrderRejected: the venue refused it.
            OrderStatusUnknown: after the retries the venue may or may not hold it.
            RateLimited: the account's rate budget refused to wait that long.
        """
        return run(self.posting(order), self.perform)

    def perform(self, step: Call) -> Any:
        """Make one venue call of a plan, blocking: ``validate``, ``send``, ``lookup``,
        ``fetch`` or ``cancel`` (see :mod:`qmtl_core.steps`)."""
        return getattr(self, VENUE_CALLS[step.name])(*step.args)

    def posting(self, order: OrderInput) -> Plan[OrderAck]:
        """The plan of :meth:`post_order`, run blocking here and awaited by
        :class:`qmtl_core.aio.AsyncBrokerage`."""
        validated: Order = yield Call("validate", (order,))
        coid = validated.client_order_id
        self.events.order("validated", self.connector_name, coid, symbol=validated.symbol)
        journal = self.journal
        if journal is None or journal.holds(coid):
            return (yield from self.submitting(validated))
        from qmtl_core.journal.send import journaling

        result = yield from journaling(
            journal,
            validated,
            connector=self.connector_name,
            send=self.submitting,
            lookup=self.looking_up,
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

    def submitting(self, validated: Order) -> Plan[OrderAck]:
        """Idempotent submission of a validated order with this client's events."""
        coid = validated.client_order_id
        started = time.perf_counter()
        try:
            ack = yield from submission(
                validated,
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
            status=str(ack.status),  # the value: str() of a StrEnum is cheaper than .value
            latency=time.perf_counter() - started,
        )
        self._remember(ack)
        return ack

    def lookup_order(self, order: Order) -> OrderAck | None:
        """The venue's answer for ``order`` found by its ``client_order_id`` (None when the
        venue has no such order); transient failures are retried. Never sends."""
        return run(self.looking_up(order), self.perform)

    def looking_up(self, order: Order) -> Plan[OrderAck | None]:
        """The plan of :meth:`lookup_order`."""
        found: OrderAck | None = yield from retrying(
            lambda: call("lookup", order),
            self.retry_policy,
            name=f"{self.connector_name}.lookup",
        )
        return found

    def reconcile(self) -> list[JournalEntry]:
        """Resolve this connector's in-flight and unknown journal entries at the venue
        (see ``qmtl_core.journal.reconcile``); returns the entries it resolved."""
        return run(self.reconciling(), self.perform)

    def reconciling(self) -> Plan[list[JournalEntry]]:
        """The plan of :meth:`reconcile`."""
        from qmtl_core.journal.reconcile import reconciling

        if self.journal is None:
            return []
        return (
            yield from reconciling(self.journal, self.looking_up, connector=self.connector_name)
        )

    def poll_order_status(self, order: OrderRefInput) -> OrderAck:
        """The order's current state; transient failures are retried (never a send).

        Args:
            order: the ack from :meth:`post_order`, a mapping with ``id``, or an id string.

        Raises:
            OrderNotFound: the venue has no such order.
            TransientError: the venue kept failing after the retries.
        """
        return run(self.polling(order), self.perform)

    def polling(self, order: OrderRefInput) -> Plan[OrderAck]:
        """The plan of :meth:`poll_order_status`."""
        ref = order_ref(order)
        ack: OrderAck = yield from retrying(
            lambda: call("fetch", ref), self.retry_policy, name=f"{self.connector_name}.fetch"
        )
        yield from self._tracking(ack)
        return ack

    def cancel_order(self, order_id: OrderRefInput) -> OrderAck:
        """:meth:`BrokerageClient.cancel_order` (same argument, same errors), retried
        while the venue's answer is transient; a cancel that the venue reports as
        already done on a retry returns the order's final ack."""
        return run(self.canceling(order_id), self.perform)

    def canceling(self, order_id: OrderRefInput) -> Plan[OrderAck]:
        """The plan of :meth:`cancel_order`."""
        ref = order_ref(order_id)
        attempts = 0

        def cancel() -> Plan[OrderAck]:
            nonlocal attempts
            attempts += 1
            try:
                return (yield from call("cancel", ref))  # type: ignore[no-any-return]
            except OrderNotCancelable as exc:
                # A retry that finds the order canceled: the attempt whose answer was lost
                # (timeout, dropped connection) did cancel it, so report that success.
                if attempts == 1 or exc.status != OrderStatus.CANCELED.value:
                    raise
                return (yield from call("fetch", ref))  # type: ignore[no-any-return]

        ack = yield from retrying(cancel, self.retry_policy, name=f"{self.connector_name}.cancel")
        yield from self._tracking(ack)
        return ack

    def _remember(self, ack: OrderAck) -> OrderStatus | None:
        """Remember the latest status (bounded); returns the one it replaces."""
        with self._status_lock:
            before = self._last_status.pop(ack.client_order_id, None)
            self._last_status[ack.client_order_id] = ack.status
            while len(self._last_status) > runtime.MAX_COMPLETED_ORDERS:
                self._last_status.popitem(last=False)
        return before

    def _tracking(self, ack: OrderAck) -> Plan[None]:
        """A later answer (poll, cancel): event on a status change, and into the journal."""
        before = self._remember(ack)
        if before is not None and before != ack.status:
            self.events.order(
                "status_changed",
                self.connector_name,
                ack.client_order_id,
                id=ack.id,
                previous=str(before),
                status=str(ack.status),
            )
        if self.journal is not None:
            try:
                yield from blocking(partial(self.journal.observe, ack))
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
