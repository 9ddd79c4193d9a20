"""Runner: the gate between a strategy's order stream and the execution service.

Every order is validated, checked against activation gating, and de-duplicated
before it reaches the service, whatever service is set: a replayed or doubled
signal must not become a second order.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from qmtl_core.brokerage import BrokerageClient, OrderInput
from qmtl_core.errors import (
    AuthenticationError,
    OrderRejected,
    OrderValidationError,
    TransientError,
)
from qmtl_core.orders import SPOT_ORDER_TYPES, Order, OrderAck, validate_order

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
        return self.outcome == "sent"


class DuplicateFilter:
    """Remembers recent order keys; an order id for ``id_ttl``, a content key for ``ttl``."""

    def __init__(
        self, ttl: float = 60.0, id_ttl: float = 86400.0, max_entries: int = 100_000
    ) -> None:
        self.ttl = ttl
        self.id_ttl = id_ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, OrderAck | None]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(raw: Mapping[str, Any] | Order, order: Order) -> Hashable:
        """The order's own id if the caller gave one, else what it trades and when."""
        given = raw.client_order_id if isinstance(raw, Order) else raw.get("client_order_id")
        if given is not None:
            return ("id", order.client_order_id)
        return ("content", order.symbol, order.side, order.quantity.normalize(), order.timestamp)

    def claim(self, key: Hashable) -> tuple[bool, OrderAck | None]:
        """(True, None) if the key is new and now claimed, else (False, first ack if known)."""
        now = time.monotonic()
        with self._lock:
            while self._entries:
                oldest, (expires, _) = next(iter(self._entries.items()))
                if expires > now and len(self._entries) < self.max_entries:
                    break
                del self._entries[oldest]
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                return False, entry[1]
            ttl = self.id_ttl if isinstance(key, tuple) and key[0] == "id" else self.ttl
            self._entries.pop(key, None)
            self._entries[key] = (now + ttl, None)
            return True, None

    def record(self, key: Hashable, ack: OrderAck) -> None:
        with self._lock:
            if key in self._entries:
                self._entries[key] = (self._entries[key][0], ack)

    def release(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)


class Runner:
    """Process-wide order routing, as the seed uses it: ``Runner.set_trade_execution_service``."""

    _service: ClassVar[BrokerageClient | None] = None
    _activation: ClassVar[Activation] = True
    _duplicates: ClassVar[DuplicateFilter] = DuplicateFilter()
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
        return cls._service

    @classmethod
    def set_activation(cls, allowed: Activation) -> None:
        """Gate orders: a bool, or a callable deciding per order. Gated orders are not sent."""
        with cls._lock:
            cls._activation = allowed

    @classmethod
    def set_duplicate_ttl(cls, seconds: float) -> None:
        """How long an order without its own client_order_id counts as a duplicate."""
        cls._duplicates.ttl = seconds

    @classmethod
    def reset(cls) -> None:
        """Forget the service, gating and remembered orders (tests, strategy restarts)."""
        with cls._lock:
            cls._service = None
            cls._activation = True
            cls._duplicates = DuplicateFilter()

    @classmethod
    def submit_order(cls, order: OrderInput) -> SubmitResult:
        service = cls._service
        if service is None:
            raise RuntimeError(
                "no trade execution service: call Runner.set_trade_execution_service"
            )
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
        duplicates = cls._duplicates
        key = duplicates.key(order, validated)
        fresh, first_ack = duplicates.claim(key)
        if not fresh:
            return SubmitResult("duplicate", validated, first_ack)
        try:
            ack = service.post_order(validated)
        except (OrderRejected, OrderValidationError, AuthenticationError, TransientError):
            # The venue surely has no such order (a TransientError escapes only when no
            # attempt can have reached it), so a corrected or later retry may go.
            duplicates.release(key)
            raise
        duplicates.record(key, ack)
        return SubmitResult("sent", validated, ack)
