"""Idempotent submission: an ambiguous failure is looked up, never blindly re-sent."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qmtl_core import runtime
from qmtl_core.brokerage import BaseBrokerageClient, Capabilities, OcoSupport
from qmtl_core.errors import (
    ConfigError,
    OrderRejected,
    OrderStatusUnknown,
    RateLimited,
    TransientError,
)
from qmtl_core.execution import RetryPolicy
from qmtl_core.orders import Order, OrderAck
from qmtl_plugin_fake.paper import PaperEngine

ORDER = {"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": "1"}


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "BACKOFF_INITIAL_SECONDS", 0.001)


class FlakyVenue(BaseBrokerageClient):
    """A paper venue whose transport fails on a script: the real retry engine runs."""

    capabilities = Capabilities(OcoSupport.MANUAL)

    def __init__(self, script: list[Callable[[Order], None]], lookups_fail: int = 0) -> None:
        super().__init__()
        self.engine = PaperEngine({"BTC/USDT": 100})
        self.script = script
        self.sends = 0
        self.lookups = 0
        self.lookups_fail = lookups_fail
        self.retry_policy = RetryPolicy(max_retries=3, backoff=0.001)

    def _send(self, order: Order) -> OrderAck:
        self.sends += 1
        step = self.script.pop(0) if self.script else None
        if step is not None:
            step(order)
        return self.engine.submit(order)

    def _lookup(self, order: Order) -> OrderAck | None:
        self.lookups += 1
        if self.lookups <= self.lookups_fail:
            raise TransientError("lookup timed out", ambiguous=True)
        return self.engine.find(order.client_order_id)

    def _fetch(self, ref: str) -> OrderAck:
        return self.engine.get(ref)

    def _cancel(self, ref: str) -> OrderAck:
        return self.engine.cancel(ref)


def lost_response(venue: FlakyVenue) -> Callable[[Order], None]:
    def step(order: Order) -> None:
        venue.engine.submit(order)  # the venue took it ...
        raise TransientError("read timed out", ambiguous=True)  # ... the answer was lost

    return step


def refused(order: Order) -> None:
    raise TransientError("connection refused", ambiguous=False)


def test_lost_response_is_found_by_lookup_and_not_resent() -> None:
    venue = FlakyVenue([])
    venue.script.append(lost_response(venue))
    ack = venue.post_order(ORDER)
    assert ack.status == "filled"
    assert len(venue.engine.orders()) == 1
    assert venue.sends == 1 and venue.lookups == 1


def test_refused_connections_retry_and_then_succeed() -> None:
    venue = FlakyVenue([refused, refused])
    venue.post_order(ORDER)
    assert venue.sends == 3 and venue.lookups == 0
    assert len(venue.engine.orders()) == 1


def test_exhausted_unambiguous_failures_raise_the_transient_error() -> None:
    venue = FlakyVenue([refused] * 4)
    with pytest.raises(TransientError, match="connection refused"):
        venue.post_order(ORDER)
    assert venue.sends == 4 and venue.engine.orders() == []


def test_unknown_outcome_raises_with_the_client_order_id() -> None:
    def timeout(order: Order) -> None:
        raise TransientError("read timed out", ambiguous=True)

    venue = FlakyVenue([timeout] * 4, lookups_fail=99)
    with pytest.raises(OrderStatusUnknown) as info:
        venue.post_order({**ORDER, "client_order_id": "cid-7"})
    assert info.value.client_order_id == "cid-7"
    assert not isinstance(info.value, OrderRejected)


def test_rejections_are_never_retried() -> None:
    def reject(order: Order) -> None:
        raise OrderRejected("insufficient balance", status_code=400)

    venue = FlakyVenue([reject])
    with pytest.raises(OrderRejected, match="insufficient balance"):
        venue.post_order(ORDER)
    assert venue.sends == 1


def test_retry_after_is_a_floor_and_too_long_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("qmtl_core.steps.time.sleep", slept.append)
    policy = RetryPolicy(max_retries=2, backoff=0.01)
    assert policy.delay(1, retry_after=1.0) >= 1.0

    def limited(order: Order) -> None:
        raise RateLimited("slow down", retry_after=1.0)

    venue = FlakyVenue([limited])
    venue.post_order(ORDER)
    assert slept and slept[0] >= 1.0
    monkeypatch.setattr(runtime, "RETRY_AFTER_MAX_SECONDS", 0.5)

    venue = FlakyVenue([limited])
    with pytest.raises(RateLimited):
        venue.post_order(ORDER)
    assert venue.sends == 1


def test_backoff_grows_is_capped_and_jittered() -> None:
    policy = RetryPolicy(max_retries=5, backoff=0.1, max_backoff=0.3, jitter=0.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.3, 0.3]
    assert policy.delay(5000) == 0.3  # a long outage never overflows the exponent
    jittered = {RetryPolicy(backoff=0.1, jitter=0.5).delay(1) for _ in range(50)}
    assert len(jittered) > 1 and all(0.05 <= d <= 0.15 for d in jittered)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_retries", -1),
        ("max_retries", 1.5),
        ("backoff", -0.1),
        ("backoff", "fast"),
        ("jitter", float("nan")),
    ],
)
def test_bad_retry_settings_are_config_errors(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]
