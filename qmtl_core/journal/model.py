"""What the order journal stores: entries, their states, events, and their JSON form.

An entry is one order intent, keyed by its ``client_order_id``. Its state says what we
know about it at the venue:

- ``in_flight``: journaled, and may be on its way (or there) right now;
- ``acknowledged``: the venue answered; ``ack`` holds its latest answer;
- ``not_placed``: the venue surely does not have it (a rejection, an error raised
  before any byte could reach it, or a lookup that found nothing); a re-submit may go;
- ``unknown``: we cannot tell (``OrderStatusUnknown``, a failed lookup): blocks its
  keys until reconciliation finds the order or proves it absent.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any

import orjson

from qmtl_core.errors import (
    AuthenticationError,
    OrderRejected,
    OrderValidationError,
    TransientError,
)
from qmtl_core.orders import Order, OrderAck, OrderStatus, OrderType, validate_order


class EntryState(StrEnum):
    """Where an order intent stands (see the module docstring)."""

    IN_FLIGHT = "in_flight"
    ACKNOWLEDGED = "acknowledged"
    NOT_PLACED = "not_placed"
    UNKNOWN = "unknown"

    @property
    def unresolved(self) -> bool:
        """True while the venue may or may not hold the order."""
        return self in (EntryState.IN_FLIGHT, EntryState.UNKNOWN)


UNRESOLVED = (EntryState.IN_FLIGHT.value, EntryState.UNKNOWN.value)


@dataclass(frozen=True)
class JournalEntry:
    """One order intent as the journal holds it."""

    client_order_id: str
    state: str
    order: Order
    ack: OrderAck | None
    connector: str
    owner: str
    key: str | None
    created: float
    updated: float
    reason: str = ""

    @property
    def unresolved(self) -> bool:
        return EntryState(self.state).unresolved


@dataclass(frozen=True)
class JournalEvent:
    """One stored transition: the order event log other services can read."""

    id: str
    time: float
    client_order_id: str
    state: str
    connector: str
    owner: str
    status: str = ""
    venue_id: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Outcome:
    """What the send path learned about a claimed order, to be stored on its entry."""

    client_order_id: str
    state: EntryState
    ack: OrderAck | None
    reason: str
    time: float


@dataclass(frozen=True)
class Claim:
    """The answer to a claim: ``fresh`` when this caller now owns the intent, else the
    entry that already holds the ``client_order_id`` or the content key."""

    fresh: bool
    entry: JournalEntry


def proves_not_placed(error: BaseException) -> bool:
    """True for an error after which the venue surely has no such order.

    A rejection, a validation or authentication error, and a ``TransientError`` that is
    not ambiguous (no attempt can have reached the venue) prove it; anything else
    (``OrderStatusUnknown``, an ambiguous or unexpected error) does not.
    """
    if isinstance(error, TransientError):
        return not error.ambiguous
    return isinstance(error, OrderRejected | OrderValidationError | AuthenticationError)


# --- JSON forms, shared by the backends -----------------------------------------


# Every journaled order writes two JSON texts (its order, its outcome's ack): orjson
# writes them in a tenth of json's time. Values JSON has no form for (a Decimal in a
# venue's raw answer) are written as their str(), keys that are not strings likewise.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS
# For what orjson refuses: an int beyond 64 bits, which json writes as it is.
_JSON = json.JSONEncoder(separators=(",", ":"), default=str)


def _dumps(data: dict[str, Any]) -> str:
    try:
        return orjson.dumps(data, default=str, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return _JSON.encode(data)


def order_to_json(order: Order) -> str:
    return _dumps(order.to_payload())


def order_from_json(text: str) -> Order:
    """The stored order, validated again (every type and futures field allowed)."""
    return validate_order(json.loads(text), order_types=frozenset(OrderType), futures=True)


def ack_to_json(ack: OrderAck) -> str:
    data = {
        "id": ack.id,
        "client_order_id": ack.client_order_id,
        "status": ack.status.value,
        "symbol": ack.symbol,
        "filled_quantity": str(ack.filled_quantity),
        "average_price": None if ack.average_price is None else str(ack.average_price),
        "raw": ack.raw if type(ack.raw) is dict else dict(ack.raw),
    }
    return _dumps(data)


def ack_from_json(text: str | None) -> OrderAck | None:
    if not text:
        return None
    data: dict[str, Any] = json.loads(text)
    price = data.get("average_price")
    return OrderAck(
        id=data["id"],
        client_order_id=data["client_order_id"],
        status=OrderStatus(data["status"]),
        symbol=data.get("symbol"),
        filled_quantity=Decimal(data.get("filled_quantity", "0")),
        average_price=None if price is None else Decimal(price),
        raw=data.get("raw") or {},
    )


# --- who owns an entry ------------------------------------------------------------


@cache
def host_identity() -> str:
    """This machine and PID namespace (Linux boot id + pid-namespace inode), so a peer
    can tell a dead local owner from a live one without waiting for its lease; on other
    systems the host name alone, and a dead owner is known only by its expired lease."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return "host:" + socket.gethostname()
    return f"linux:{boot}:{namespace}"


def new_owner_id() -> str:
    """A journal owner id: host name, PID and a random part (unique per open journal)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_gone(host: str, pid: int, lease_expires: float, now: float) -> bool:
    """True when an owner's lease has run out, or it ran here and its process is gone."""
    if lease_expires <= now:
        return True
    if host != host_identity() or host.startswith("host:"):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False
