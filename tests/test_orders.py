"""Order validation: everything that must hold before an order leaves the process."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmtl_core.errors import OrderValidationError, VenueProtocolError
from qmtl_core.orders import (
    Order,
    OrderAck,
    OrderStatus,
    OrderType,
    Side,
    order_ref,
    parse_status,
    validate_order,
    venue_decimal,
)
from qmtl_core.runner import duplicate_key

ALL_TYPES = frozenset(OrderType)
SEED_ORDER = {"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": 0.01}


def test_seed_order_validates_with_exact_decimals() -> None:
    order = validate_order(SEED_ORDER)
    assert order.symbol == "BTC/USDT"
    assert order.side is Side.BUY
    assert order.type is OrderType.MARKET
    assert order.quantity == Decimal("0.01")
    assert str(order.quantity) == "0.01"  # not 0.01000000000000000020816681711721685...


def test_prices_and_quantities_keep_their_decimal_text() -> None:
    order = validate_order(
        {"symbol": "X", "side": "sell", "type": "limit", "amount": "0.30000000", "price": 0.1}
    )
    assert order.quantity == Decimal("0.3") and str(order.quantity) == "0.30000000"
    assert order.limit_price == Decimal("0.1")
    assert order.side is Side.SELL


@pytest.mark.parametrize(
    ("patch", "field", "fragment"),
    [
        ({"symbol": None}, "symbol", "required"),
        ({"symbol": "BTC USDT"}, "symbol", "without spaces"),
        ({"side": "HOLD"}, "side", "BUY|SELL"),
        ({"type": "iceberg"}, "type", "market|limit"),
        ({"quantity": 0}, "quantity", "greater than 0"),
        ({"quantity": -1}, "quantity", "greater than 0"),
        ({"quantity": float("nan")}, "quantity", "finite"),
        ({"quantity": float("inf")}, "quantity", "finite"),
        ({"quantity": "abc"}, "quantity", "not a decimal"),
        ({"quantity": True}, "quantity", "not a boolean"),
        ({"quantity": None}, "quantity", "required"),
        ({"time_in_force": "SOMETIMES"}, "time_in_force", "GTC|IOC|FOK|GTD|DAY"),
        ({"client_order_id": "has space"}, "client_order_id", "1-36 characters"),
        ({"client_order_id": "x" * 37}, "client_order_id", "1-36 characters"),
        ({"limit_price": 100}, "limit_price", "not allowed on a market order"),
        ({"timestamp": "yesterday"}, "timestamp", "number"),
        ({"quantty": 1}, "quantty", "did you mean 'quantity'"),
    ],
)
def test_bad_orders_name_field_value_and_rule(
    patch: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(OrderValidationError) as info:
        validate_order({**SEED_ORDER, **patch})
    assert info.value.field == field
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_zero_quantity_is_a_value_not_missing() -> None:
    with pytest.raises(OrderValidationError, match="greater than 0"):
        validate_order({**SEED_ORDER, "quantity": 0})
    with pytest.raises(OrderValidationError, match="greater than 0"):
        validate_order({**SEED_ORDER, "quantity": "0"})
    with pytest.raises(OrderValidationError, match="greater than 0"):
        validate_order({**{k: v for k, v in SEED_ORDER.items() if k != "quantity"}, "amount": 0.0})


def test_limit_orders_need_a_positive_limit_price() -> None:
    limit = {**SEED_ORDER, "type": "limit"}
    with pytest.raises(OrderValidationError, match="required for limit orders") as info:
        validate_order(limit)
    assert info.value.field == "limit_price"
    with pytest.raises(OrderValidationError, match="greater than 0"):
        validate_order({**limit, "limit_price": 0})
    assert validate_order({**limit, "limit_price": "10000.5"}).limit_price == Decimal("10000.5")


def test_stop_orders_only_where_the_connector_supports_them() -> None:
    stop = {**SEED_ORDER, "type": "stop", "stop_price": 45000}
    with pytest.raises(OrderValidationError, match="not supported by this connector"):
        validate_order(stop)
    assert validate_order(stop, order_types=ALL_TYPES).stop_price == Decimal(45000)
    with pytest.raises(OrderValidationError, match="stop_price"):
        validate_order({**SEED_ORDER, "type": "stop"}, order_types=ALL_TYPES)
    stop_limit = {**stop, "type": "stop_limit"}
    with pytest.raises(OrderValidationError, match="limit_price"):
        validate_order(stop_limit, order_types=ALL_TYPES)


@pytest.mark.parametrize("field", ["reduce_only", "position_side", "leverage"])
def test_futures_fields_are_rejected_on_spot(field: str) -> None:
    value = {"reduce_only": False, "position_side": "LONG", "leverage": 5}[field]
    with pytest.raises(OrderValidationError, match="futures-only") as info:
        validate_order({**SEED_ORDER, field: value})
    assert info.value.field == field


def test_futures_fields_on_a_futures_connector() -> None:
    order = validate_order(
        {**SEED_ORDER, "reduce_only": False, "position_side": "long", "leverage": 10}, futures=True
    )
    assert order.reduce_only is False
    assert order.position_side == "LONG"
    assert order.leverage == Decimal(10)
    with pytest.raises(OrderValidationError, match="true or false"):
        validate_order({**SEED_ORDER, "reduce_only": "no"}, futures=True)


def test_client_order_id_kept_when_given_and_unique_when_generated() -> None:
    assert validate_order({**SEED_ORDER, "client_order_id": "my-id-1"}).client_order_id == "my-id-1"
    ids = {validate_order(SEED_ORDER).client_order_id for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) <= 36 for i in ids)


def test_order_is_immutable_and_revalidates() -> None:
    order = validate_order(SEED_ORDER)
    with pytest.raises(AttributeError):
        order.quantity = Decimal(1)  # type: ignore[misc]
    assert validate_order(order) == order
    assert order.to_payload()["quantity"] == "0.01"
    assert order.to_payload()["side"] == "BUY"


def test_aliases_cannot_contradict() -> None:
    with pytest.raises(OrderValidationError, match="both given"):
        validate_order({**SEED_ORDER, "amount": 2})


def test_ack_reads_like_the_seed_dict() -> None:
    ack = OrderAck(
        "42", "cid", OrderStatus.FILLED, "BTC/USDT", Decimal("0.01"), Decimal(50000), {"x": 1}
    )
    assert ack["id"] == "42" and ack["client_order_id"] == "cid"
    assert ack["status"] == "filled" and ack["filled_quantity"] == Decimal("0.01")
    assert ack["average_price"] == Decimal(50000) and ack["raw"] == {"x": 1}
    assert ack.is_complete
    with pytest.raises(KeyError):
        ack["nope"]
    assert dict(ack)["symbol"] == "BTC/USDT"


def test_status_vocabulary_and_unknown_status() -> None:
    assert [s.value for s in OrderStatus] == [
        "new",
        "partially_filled",
        "filled",
        "canceled",
        "rejected",
        "expired",
    ]
    assert parse_status("FILLED") is OrderStatus.FILLED
    assert parse_status("closed", {"closed": OrderStatus.FILLED}) is OrderStatus.FILLED
    with pytest.raises(VenueProtocolError, match="'weird'"):
        parse_status("weird")


def test_order_ref_accepts_ack_mapping_or_id() -> None:
    ack = OrderAck("7", "cid", OrderStatus.NEW)
    assert order_ref(ack) == "7"
    assert order_ref({"id": "8"}) == "8"
    assert order_ref("9") == "9"
    with pytest.raises(OrderValidationError):
        order_ref({"nothing": 1})


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(["BUY", "sell", "market", "limit", "GTC", "BTC/USDT", "0.5", "-1", "1e3"]),
)
keys = st.sampled_from(
    [
        "symbol",
        "side",
        "type",
        "quantity",
        "amount",
        "limit_price",
        "price",
        "stop_price",
        "time_in_force",
        "client_order_id",
        "timestamp",
        "reduce_only",
        "position_side",
        "leverage",
        "extra",
    ]
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(keys, scalars, max_size=8), st.booleans(), st.booleans())
def test_validator_returns_an_order_or_raises_validation_error(
    patch: dict[str, Any], start_valid: bool, futures: bool
) -> None:
    data = {**(SEED_ORDER if start_valid else {}), **patch}
    try:
        order = validate_order(data, order_types=ALL_TYPES, futures=futures)
    except OrderValidationError:
        return
    assert isinstance(order, Order)
    assert order.quantity > 0 and order.quantity.is_finite()
    assert not order.is_futures or futures


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(st.text(max_size=5), scalars, max_size=5))
def test_validator_never_crashes_on_random_keys(data: dict[str, Any]) -> None:
    with pytest.raises(OrderValidationError):
        validate_order(data)


def test_venue_numbers_that_are_not_numbers_are_protocol_errors() -> None:
    assert venue_decimal("filled", None) is None
    assert venue_decimal("filled", "0.5") == Decimal("0.5")
    with pytest.raises(VenueProtocolError, match="field 'filled' = 'lots' is not a number"):
        venue_decimal("filled", "lots")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (10**5000, "out of range"),
        ("1e1000000", "out of range"),
        (1e300, "out of range"),
        (1e-300, "out of range"),
        ("1." + "1" * 40, "too precise"),
        ("1." + "1" * 28, "too precise"),
    ],
    ids=["5000-digit-int", "huge-exponent", "1e300", "1e-300", "40-digits", "29-digits"],
)
def test_extreme_numbers_are_validation_errors(value: Any, says: str) -> None:
    with pytest.raises(OrderValidationError) as info:
        validate_order({**SEED_ORDER, "quantity": value})
    assert info.value.field == "quantity"
    assert says in str(info.value)
    assert len(str(info.value)) < 200  # a 5000-digit number is not echoed back whole


def test_trailing_zeros_do_not_count_as_precision() -> None:
    order = validate_order({**SEED_ORDER, "quantity": "0.5" + "0" * 40})
    assert order.quantity == Decimal("0.5")
    longest = "1." + "1" * 27 + "0" * 5  # 28 significant digits: the most allowed
    assert validate_order({**SEED_ORDER, "quantity": longest}).quantity == Decimal(longest)


@pytest.mark.parametrize("coid", ["abc\n", "abc\r\n", "\nabc", "a" * 37, ""])
def test_client_order_id_must_match_whole(coid: str) -> None:
    with pytest.raises(OrderValidationError) as info:
        validate_order({**SEED_ORDER, "client_order_id": coid})
    assert info.value.field == "client_order_id"


def test_huge_integer_timestamp_is_a_validation_error() -> None:
    with pytest.raises(OrderValidationError) as info:
        validate_order({**SEED_ORDER, "timestamp": 10**400})
    assert info.value.field == "timestamp"


any_number = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**6000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(places=60),
    st.from_regex(r"-?[0-9]{0,60}(\.[0-9]{0,60})?([eE][-+]?[0-9]{1,9})?", fullmatch=True),
    st.text(max_size=40),
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=300)
@given(
    quantity=any_number,
    price=any_number,
    timestamp=st.one_of(st.none(), any_number),
    coid=st.one_of(st.none(), st.text(max_size=40)),
)
def test_full_range_of_numbers_and_strings_gives_an_order_or_a_validation_error(
    quantity: Any, price: Any, timestamp: Any, coid: str | None
) -> None:
    data = {**SEED_ORDER, "type": "limit", "quantity": quantity, "price": price}
    data["timestamp"] = timestamp
    if coid is not None:
        data["client_order_id"] = coid
    try:
        order = validate_order(data)
    except OrderValidationError as exc:
        assert len(str(exc)) < 400
        return
    # The Runner's duplicate key must be computable for every order the validator passes.
    key = duplicate_key(data, order)
    assert key == duplicate_key(dict(data), validate_order(data))
    assert order.client_order_id.strip() == order.client_order_id
