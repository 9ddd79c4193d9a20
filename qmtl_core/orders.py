"""The order model: validation before anything leaves the process, and normalised acks.

Every connector funnels a user's order dict through :func:`validate_order`, so one set
of rules (and one set of error messages) holds for every venue. Quantities and prices
are ``Decimal`` built from the decimal text of the input: ``0.1`` stays ``0.1``.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache, cached_property
from typing import Any, TypeVar

from qmtl_core.errors import OrderValidationError, VenueProtocolError, shown

F = TypeVar("F")


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"
    DAY = "DAY"


class PositionSide(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"
    BOTH = "BOTH"


class OrderStatus(StrEnum):
    """The one status vocabulary every connector reports."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_complete(self) -> bool:
        """True once the order can no longer fill."""
        return self not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


SPOT_ORDER_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT})
FUTURES_FIELDS = ("reduce_only", "position_side", "leverage")
_ALIASES = {"amount": "quantity", "price": "limit_price"}
_KNOWN_FIELDS = (
    "symbol",
    "side",
    "type",
    "quantity",
    "limit_price",
    "stop_price",
    "time_in_force",
    "client_order_id",
    "timestamp",
    *FUTURES_FIELDS,
)
_KNOWN_KEYS = frozenset(_KNOWN_FIELDS)
# Binance's rule for client ids (the strictest common venue), so an id valid here is
# valid everywhere we send it.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:/-]{1,36}")  # used with fullmatch: no "\n" slips by
# Quantities and prices an order may carry: at most 28 significant digits (the decimal
# context's precision, so two different numbers never normalise to one duplicate key) and
# magnitudes between 1e-28 and 1e28 (no venue trades outside it; decimal arithmetic on
# larger exponents overflows).
MAX_DECIMAL_DIGITS = 28
MAX_DECIMAL_EXPONENT = 27
MIN_DECIMAL_EXPONENT = -28


def make_frozen(cls: type[F], **fields: Any) -> F:
    """An instance of the frozen dataclass ``cls`` from *all* its fields (no default is
    applied), without the generated ``__init__``'s ``object.__setattr__`` per field: the
    order and ack of every order are built this way (it was a third of validating one)."""
    instance = object.__new__(cls)
    instance.__dict__.update(fields)
    return instance


def new_client_order_id() -> str:
    """A fresh id, unique across processes and hosts (122 random bits)."""
    return "qm" + uuid.uuid4().hex


@dataclass(frozen=True)
class Order:
    """A validated, immutable order. Build it with :func:`validate_order`."""

    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal
    client_order_id: str
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    timestamp: float | None = None
    reduce_only: bool | None = None
    position_side: PositionSide | None = None
    leverage: Decimal | None = None

    @property
    def is_futures(self) -> bool:
        """True when the order carries a futures-only field (reduce_only, position_side,
        leverage)."""
        return any(getattr(self, name) is not None for name in FUTURES_FIELDS)

    # Read access by key, as the seed's dict payloads had it: a service written for
    # ``order["symbol"]`` / ``order.get("limit_price")`` works on a validated Order.
    def __getitem__(self, key: str) -> Any:
        """The field ``key`` (``order["symbol"]``); KeyError when absent or not a field."""
        value = getattr(self, key, None) if key in _ORDER_FIELDS else None
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys()

    def get(self, key: str, default: Any = None) -> Any:
        """The field ``key``, or ``default`` when the order does not carry it."""
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> list[str]:
        """The fields this order carries (``dict(order)`` works)."""
        return [name for name in _ORDER_FIELDS if getattr(self, name) is not None]

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready fields, decimals as exact strings, absent fields left out (a new
        dict each call; the fields are read once per order, since both the journal and
        the wire ask)."""
        return dict(self._payload)

    @cached_property
    def _payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        for name in _ORDER_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, StrEnum):
                value = value.value
            payload[name] = value
        return payload


_ORDER_FIELDS = tuple(f.name for f in fields(Order))


def to_decimal(name: str, value: Any) -> Decimal:
    """``value`` (decimal text, int, float or Decimal) as a finite Decimal of at most 28
    significant digits between 1e-28 and 1e28; else ``OrderValidationError`` on ``name``."""
    kind = type(value)
    try:
        if kind is str:
            text = value.strip()
            number = Decimal(text)
            # Text of at most 28 characters cannot hold more digits: skip counting them.
            short = len(text) <= MAX_DECIMAL_DIGITS
        elif kind is float:
            # repr() gives the shortest decimal text that round-trips: 0.1 -> "0.1".
            number, short = Decimal(repr(value)), True  # 17 significant digits at most
        elif isinstance(value, bool):
            raise OrderValidationError(name, value, "must be a number, not a boolean")
        elif isinstance(value, Decimal):
            number, short = value, False
        elif isinstance(value, int):
            number, short = Decimal(value), False
        elif isinstance(value, float):
            number, short = Decimal(repr(value)), True
        elif isinstance(value, str):
            number, short = Decimal(value.strip()), False
        else:
            raise OrderValidationError(name, value, "must be a number or decimal text")
    except InvalidOperation:
        raise OrderValidationError(name, value, "is not a decimal number") from None
    if not number.is_finite():
        raise OrderValidationError(name, value, "must be finite")
    if number and not MIN_DECIMAL_EXPONENT <= number.adjusted() <= MAX_DECIMAL_EXPONENT:
        raise OrderValidationError(name, value, "out of range: use a number between 1e-28 and 1e28")
    if not short and _significant_digits(number) > MAX_DECIMAL_DIGITS:
        raise OrderValidationError(
            name, value, f"too precise: at most {MAX_DECIMAL_DIGITS} significant digits"
        )
    return number


def _significant_digits(number: Decimal) -> int:
    """Digits without trailing zeros, counted exactly (``normalize`` would round first)."""
    digits = number.as_tuple().digits
    count = len(digits)
    while count and digits[count - 1] == 0:
        count -= 1
    return count


def venue_decimal(name: str, value: Any) -> Decimal | None:
    """A number a venue reported (None stays None); garbage is the venue's fault, so it is a
    :class:`VenueProtocolError`, not an order validation error."""
    if value is None:
        return None
    try:
        return to_decimal(name, value)
    except OrderValidationError:
        raise VenueProtocolError(f"field '{name}' = {shown(value)} is not a number") from None


def _positive(name: str, value: Any) -> Decimal:
    number = to_decimal(name, value)
    if number <= 0:
        raise OrderValidationError(name, value, "must be greater than 0")
    return number


def _choice(name: str, value: Any, enum: type[StrEnum], *, upper: bool) -> Any:
    members = _members(enum)
    if isinstance(value, str):
        text = value.strip().upper() if upper else value.strip().lower()
        member = members.get(text)
        if member is not None:
            return member
    raise OrderValidationError(name, value, f"must be one of {'|'.join(members)}")


@cache
def _members(enum: type[StrEnum]) -> dict[str, StrEnum]:
    """``enum``'s members by value, in definition order (built once per enum)."""
    return {member.value: member for member in enum}


def _normalise_keys(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``data`` keyed by canonical field names (read only); an unknown or doubled field
    raises."""
    if type(data) is dict and data.keys() <= _KNOWN_KEYS:
        return data  # the usual order: canonical names only, nothing to rename
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise OrderValidationError(str(key), value, "field names must be text")
        canonical = _ALIASES.get(key, key)
        if canonical not in _KNOWN_FIELDS:
            hint = _closest(key, _KNOWN_FIELDS)
            rule = f"unknown field; did you mean '{hint}'?" if hint else "unknown field"
            raise OrderValidationError(key, value, rule)
        if canonical in out and key != canonical:
            raise OrderValidationError(key, value, f"'{key}' and '{canonical}' both given")
        out[canonical] = value
    return out


def _closest(word: str, choices: tuple[str, ...]) -> str | None:
    import difflib

    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return match[0] if match else None


_NEEDS_LIMIT = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_NEEDS_STOP = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})


def _price(
    d: Mapping[str, Any],
    name: str,
    order_type: OrderType,
    needed_by: frozenset[OrderType],
    hint: str,
) -> Decimal | None:
    """A price field that ``needed_by`` order types require and the others must not carry."""
    if d.get(name) is not None:
        if order_type not in needed_by:
            raise OrderValidationError(name, d[name], f"not allowed on a {order_type.value} order")
        return _positive(name, d[name])
    if order_type in needed_by:
        raise OrderValidationError(name, None, f"required for {order_type.value} orders{hint}")
    return None


def validate_order(
    data: Mapping[str, Any] | Order,
    *,
    order_types: frozenset[OrderType] = SPOT_ORDER_TYPES,
    futures: bool = False,
) -> Order:
    """Check an order against the rules every venue shares, and return an :class:`Order`.

    ``order_types`` and ``futures`` come from the connector's capabilities: a spot
    connector rejects futures-only fields instead of silently dropping them.
    """
    if isinstance(data, Order):
        data = {**data.to_payload()}
    if type(data) is not dict and not isinstance(data, Mapping):  # a dict: no ABC check
        raise OrderValidationError("order", data, "must be a mapping of order fields")
    d = _normalise_keys(data)

    symbol = d.get("symbol")
    if not isinstance(symbol, str) or symbol.split() != [symbol]:  # empty, or has a space
        raise OrderValidationError(
            "symbol", symbol, "required, text without spaces, e.g. 'BTC/USDT'"
        )
    if "side" not in d:
        raise OrderValidationError("side", None, "required: BUY or SELL")
    side = _choice("side", d["side"], Side, upper=True)
    if "type" not in d:
        raise OrderValidationError("type", None, "required: 'market' or 'limit'")
    order_type = _choice("type", d["type"], OrderType, upper=False)
    if order_type not in order_types:
        supported = "|".join(sorted(t.value for t in order_types))
        raise OrderValidationError(
            "type", d["type"], f"not supported by this connector; use one of {supported}"
        )
    if d.get("quantity") is None:
        raise OrderValidationError("quantity", d.get("quantity"), "required (alias 'amount')")
    quantity = _positive("quantity", d["quantity"])

    limit_price = _price(d, "limit_price", order_type, _NEEDS_LIMIT, " (alias 'price')")
    stop_price = _price(d, "stop_price", order_type, _NEEDS_STOP, "")

    tif = None
    if d.get("time_in_force") is not None:
        tif = _choice("time_in_force", d["time_in_force"], TimeInForce, upper=True)

    client_order_id = d.get("client_order_id")
    if client_order_id is None:
        client_order_id = new_client_order_id()
    elif not isinstance(client_order_id, str) or not _CLIENT_ID.fullmatch(client_order_id):
        raise OrderValidationError(
            "client_order_id", client_order_id, "must be 1-36 characters of A-Z a-z 0-9 . _ : / -"
        )

    timestamp = d.get("timestamp")
    if timestamp is not None:
        if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
            raise OrderValidationError("timestamp", timestamp, "must be a number (epoch seconds)")
        try:
            timestamp = float(timestamp)
        except OverflowError:
            raise OrderValidationError("timestamp", timestamp, "out of range") from None
        if not math.isfinite(timestamp):
            raise OrderValidationError("timestamp", timestamp, "must be finite")

    futures_values: dict[str, Any] = {}
    for name in FUTURES_FIELDS if not d.keys().isdisjoint(FUTURES_FIELDS) else ():
        if d.get(name) is None:
            continue
        if not futures:
            raise OrderValidationError(
                name, d[name], "futures-only field; use a futures connector such as 'ccxt-futures'"
            )
        futures_values[name] = d[name]
    reduce_only = futures_values.get("reduce_only")
    if reduce_only is not None and not isinstance(reduce_only, bool):
        raise OrderValidationError("reduce_only", reduce_only, "must be true or false")
    position_side = None
    if "position_side" in futures_values:
        position_side = _choice(
            "position_side", futures_values["position_side"], PositionSide, upper=True
        )
    leverage = None
    if "leverage" in futures_values:
        leverage = _positive("leverage", futures_values["leverage"])

    return make_frozen(
        Order,
        symbol=symbol.strip(),
        side=side,
        type=order_type,
        quantity=quantity,
        client_order_id=client_order_id,
        limit_price=limit_price,
        stop_price=stop_price,
        time_in_force=tif,
        timestamp=timestamp,
        reduce_only=reduce_only,
        position_side=position_side,
        leverage=leverage,
    )


@dataclass(frozen=True, eq=False)
class OrderAck(Mapping[str, Any]):
    """A venue's answer in the common vocabulary; also readable as ``ack["status"]``."""

    id: str
    client_order_id: str
    status: OrderStatus
    symbol: str | None = None
    filled_quantity: Decimal = Decimal(0)
    average_price: Decimal | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_complete(self) -> bool:
        """True once the order can change no more (filled, canceled, rejected, expired)."""
        return self.status.is_complete

    def __getitem__(self, key: str) -> Any:
        if key in _ACK_FIELDS:
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """``ack[key]``, or ``default`` for a name that is not a field (one lookup, not
        ``Mapping.get``'s try/except around ``__getitem__``: clients read acks per call)."""
        return getattr(self, key) if key in _ACK_FIELDS else default

    def __iter__(self) -> Iterator[str]:
        return iter(_ACK_FIELDS)

    def __len__(self) -> int:
        return len(_ACK_FIELDS)


_ACK_FIELDS = tuple(f.name for f in fields(OrderAck))


def parse_status(value: Any, table: Mapping[str, OrderStatus] | None = None) -> OrderStatus:
    """Map a venue's status text onto :class:`OrderStatus`; unknown text is an error."""
    if isinstance(value, str):
        key = value.strip().lower()
        if table and key in table:
            return table[key]
        try:
            return OrderStatus(key)
        except ValueError:
            pass
    raise VenueProtocolError(f"unknown order status {shown(value)} from the venue")


def order_ref(order: Any) -> str:
    """The id to look an order up by: from an ack, a mapping with ``id``, or an id string."""
    if type(order) is OrderAck and order.id:  # the usual argument: no ABC check
        return order.id
    if isinstance(order, str) and order:
        return order
    if isinstance(order, Mapping):
        for key in ("id", "client_order_id"):
            value = order.get(key)
            if isinstance(value, str) and value:
                return value
    raise OrderValidationError(
        "order", order, "pass the ack from post_order, a mapping with 'id', or an id string"
    )
