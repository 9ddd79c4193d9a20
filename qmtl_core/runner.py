"""Runner: the gate between a strategy's order stream and the execution service.

Every order is validated, checked against activation gating, and claimed in the order
journal before it reaches the service, whatever service is set: a replayed or doubled
signal must not become a second order, in this process or any other sharing the
journal, now or after a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from qmtl_core.aio import AsyncBrokerage, perform_with
from qmtl_core.brokerage import BrokerageClient, OrderInput
from qmtl_core.journal import JournalEntry, OrderJournal, open_journal
from qmtl_core.journal.reconcile import reconcile
from qmtl_core.journal.send import journaling
from qmtl_core.orders import SPOT_ORDER_TYPES, Order, OrderAck, validate_order
from qmtl_core.steps import Plan, call, run, run_async

Outcome = Literal["sent", "gated", "duplicate"]
Activation = bool | Callable[[Order], bool]


@dataclass(frozen=True)
class SubmitResult:
    """What happened to one submitted order; ``ack`` is None unless the venue answered."""

    outcome: Outcome
    order: Order
    ack: OrderAck | None = None

    @property
    def sent(self) -> bool:
        """True when the order went to the service (not gated, not a duplicate)."""
        return self.outcome == "sent"


#: How long an order without its own client_order_id counts as a duplicate, by default.
DEFAULT_DUPLICATE_TTL_SECONDS = 60.0


def duplicate_key(raw: Mapping[str, Any] | Order, order: Order) -> str | None:
    """The content key of an order the caller gave no ``client_order_id``: what it
    trades and when. None when it has no ``timestamp`` either: then nothing identifies
    a repeat, so every such order is a new intent (its fresh id is its only key)."""
    given = raw.client_order_id if isinstance(raw, Order) else raw.get("client_order_id")
    if given is not None or order.timestamp is None:
        return None
    quantity = order.quantity.normalize()
    return f"content|{order.symbol}|{order.side.value}|{quantity}|{order.timestamp!r}"


class Runner:
    """Process-wide order routing, as the seed uses it: ``Runner.set_trade_execution_service``."""

    _service: ClassVar[BrokerageClient | None] = None
    _async_twin: ClassVar[AsyncBrokerage | None] = None
    _activation: ClassVar[Activation] = True
    _journal: ClassVar[OrderJournal | None] = None
    _memory_journal: ClassVar[OrderJournal | None] = None
    _duplicate_ttl: ClassVar[float] = DEFAULT_DUPLICATE_TTL_SECONDS
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def set_trade_execution_service(cls, service: BrokerageClient | None) -> None:
        """Route orders to ``service`` (anything with ``post_order``); None to unset."""
        if service is not None and not callable(getattr(service, "post_order", None)):
            raise TypeError("the trade execution service needs a post_order(order) method")
        with cls._lock:
            cls._service = service

    @classmethod
    def trade_execution_service(cls) -> BrokerageClient | None:
        """The service orders go to now, None when none is set."""
        return cls._service

    @classmethod
    def set_activation(cls, allowed: Activation) -> None:
        """Gate orders: a bool, or a callable deciding per order. Gated orders are not sent."""
        with cls._lock:
            cls._activation = allowed

    @classmethod
    def set_duplicate_ttl(cls, seconds: float) -> None:
        """How long an order without its own client_order_id counts as a duplicate."""
        cls._duplicate_ttl = seconds

    @classmethod
    def set_journal(cls, journal: OrderJournal | None) -> None:
        """Claim and record orders in ``journal``. None: the service's own journal (a
        client built by ``load_connectors`` has the config's), else one in memory."""
        with cls._lock:
            cls._journal = journal

    @classmethod
    def journal(cls) -> OrderJournal:
        """The journal orders go through now (see :meth:`set_journal`)."""
        with cls._lock:
            if cls._journal is not None:
                return cls._journal
            own = getattr(cls._service, "journal", None)
            if isinstance(own, OrderJournal):
                return own
            if cls._memory_journal is None:
                cls._memory_journal = open_journal("memory://")
            return cls._memory_journal

    @classmethod
    def reset(cls) -> None:
        """Forget the service, gating, journal and remembered orders (tests, restarts)."""
        with cls._lock:
            memory, cls._memory_journal = cls._memory_journal, None
            cls._service = None
            cls._async_twin = None
            cls._activation = True
            cls._journal = None
            cls._duplicate_ttl = DEFAULT_DUPLICATE_TTL_SECONDS
        if memory is not None:
            memory.close()

    @classmethod
    def _require_service(cls) -> BrokerageClient:
        service = cls._service
        if service is None:
            raise RuntimeError(
                "no trade execution service: call Runner.set_trade_execution_service"
            )
        return service

    @classmethod
    def submit_order(cls, order: OrderInput) -> SubmitResult:
        """Validate, gate, claim in the journal, then send: ``sent``, ``gated`` or
        ``duplicate`` (with the first order's ack when known).

        The service gets the validated :class:`Order`, readable by key as the seed's
        dict payloads were (``order["symbol"]``, ``order.get("limit_price")``).

        Args:
            order: a mapping of order fields or an :class:`Order`.

        Raises:
            RuntimeError: no service is set (:meth:`set_trade_execution_service`).
            OrderValidationError: the order breaks a rule; nothing was sent.
            OrderRejected, OrderStatusUnknown: from the service, as ``post_order`` raises.
        """
        service = cls._require_service()
        lookup = getattr(service, "lookup_order", None)
        calls: dict[str, Any] = {"post": service.post_order, "lookup": lookup}
        return run(cls._submitting(service, order), lambda s: calls[s.name](*s.args))

    @classmethod
    async def submit_order_async(cls, order: OrderInput) -> SubmitResult:
        """:meth:`submit_order` on an event loop: the same gating, journal and duplicate
        rules, the service's order placed through its :class:`~qmtl_core.aio.AsyncBrokerage`
        twin (:meth:`async_service`), nothing blocking the loop."""
        service = cls._require_service()
        twin = cls.async_service()
        calls = {"post": twin.post_order, "lookup": twin.lookup_order}
        return await run_async(cls._submitting(service, order), perform_with(calls), twin.executor)

    @classmethod
    def async_service(cls) -> AsyncBrokerage:
        """The async twin of the trade execution service (made once per service)."""
        service = cls._require_service()
        with cls._lock:
            twin = cls._async_twin
            if twin is None or twin.client is not service:
                twin = cls._async_twin = AsyncBrokerage(service)
            return twin

    @classmethod
    def _submitting(cls, service: BrokerageClient, order: OrderInput) -> Plan[SubmitResult]:
        """The plan both submit paths run; venue calls ``post`` and ``lookup``."""
        caps = getattr(service, "capabilities", None)
        validated = validate_order(
            order,
            order_types=caps.order_types if caps else SPOT_ORDER_TYPES,
            futures=caps.futures if caps else False,
        )
        activation = cls._activation
        allowed = activation(validated) if callable(activation) else activation
        if not allowed:
            return SubmitResult("gated", validated)
        has_lookup = getattr(service, "lookup_order", None) is not None
        result = yield from journaling(
            cls.journal(),
            validated,
            connector=_connector_name(service),
            send=lambda o: call("post", o),
            lookup=(lambda o: call("lookup", o)) if has_lookup else None,
            key=duplicate_key(order, validated),
            key_ttl=cls._duplicate_ttl,
        )
        if not result.sent:
            return SubmitResult("duplicate", validated, result.entry.ack)
        return SubmitResult("sent", validated, result.ack)

    @classmethod
    def reconcile(cls) -> list[JournalEntry]:
        """Look every in-flight or unknown entry of the service's connector up at the
        venue and resolve it (never re-sending); returns the entries it resolved.
        Entries of a live peer process are left alone."""
        service = cls._require_service()
        lookup = getattr(service, "lookup_order", None)
        if lookup is None:
            raise TypeError(
                "reconciliation needs a service with lookup_order(order), such as any "
                "BaseBrokerageClient"
            )
        return reconcile(cls.journal(), lookup, connector=_connector_name(service))


def _connector_name(service: BrokerageClient) -> str:
    name = getattr(service, "connector_name", None)
    return name if isinstance(name, str) else type(service).__name__
