"""Retry policy and idempotent order submission, shared by every networked connector.

The rule that keeps a trader from buying twice: after an *ambiguous* failure (the
request may have reached the venue), look the order up by its ``client_order_id``
before sending it again. When attempts run out and the venue never confirmed either
way, raise :class:`OrderStatusUnknown` instead of guessing.

The rules are plans (:mod:`qmtl_core.steps`): :func:`submission` and :func:`retrying`
run blocking here and on an event loop in :mod:`qmtl_core.aio`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from qmtl_core import runtime, steps
from qmtl_core.errors import OrderStatusUnknown, RateLimited, TransientError
from qmtl_core.events import Events
from qmtl_core.options import number, whole_number
from qmtl_core.orders import Order, OrderAck
from qmtl_core.steps import Call, Plan, Wait, run

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter; ``None`` fields fall back to ``runtime``."""

    max_retries: int = 3
    backoff: float | None = None
    max_backoff: float | None = None
    jitter: float | None = None

    def __post_init__(self) -> None:
        whole_number("max_retries", self.max_retries, 0)
        for name in ("backoff", "max_backoff", "jitter"):
            value = getattr(self, name)
            if value is not None:
                number(name, value, positive=False)

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based).

        A venue's ``Retry-After`` is a floor: we never come back sooner than asked.
        """
        base = self.backoff if self.backoff is not None else runtime.BACKOFF_INITIAL_SECONDS
        cap = self.max_backoff if self.max_backoff is not None else runtime.BACKOFF_MAX_SECONDS
        jitter = self.jitter if self.jitter is not None else runtime.BACKOFF_JITTER
        # Past 2**62 every base is over any cap; a larger power would overflow a float.
        delay = float(min(cap, base * 2.0 ** min(retry_number - 1, 62)))
        delay *= 1 + random.uniform(-jitter, jitter)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return max(0.0, delay)


def _asks_too_long(error: TransientError) -> bool:
    """A venue asking us to wait longer than we are willing to block the caller, or our
    rate budget refusing after the caller already waited ``rate_limit_max_wait``."""
    if isinstance(error, RateLimited) and error.by_budget:
        return True
    return error.retry_after is not None and error.retry_after > runtime.RETRY_AFTER_MAX_SECONDS


def retrying(attempt: Callable[[], Plan[T]], policy: RetryPolicy, *, name: str = "call") -> Plan[T]:
    """A plan running an idempotent ``attempt`` (a status poll, a cancel), retrying
    transient failures with ``policy``.

    Each retry is logged (WARNING, ``retried call=<name> attempt= delay= reason=``) like
    an order's retries, so a venue that keeps failing is visible while it is retried.

    Raises:
        TransientError: the last failure, once ``policy.max_retries`` retries are spent
            or the venue asks to wait longer than the caller may block.
    """
    retry = 0
    while True:
        try:
            return (yield from attempt())
        except TransientError as error:
            retry += 1
            if retry > policy.max_retries or _asks_too_long(error):
                raise
            delay = policy.delay(retry, error.retry_after)
            log.warning(
                "retried call=%s attempt=%d delay=%.3f reason=%s", name, retry, delay, error
            )
            yield Wait(delay)


def call_with_retries(call: Callable[[], T], policy: RetryPolicy, *, name: str = "call") -> T:
    """Run an idempotent call (a status poll, a cancel), retrying transient failures
    (see :func:`retrying`, which logs each retry under ``name``)."""
    result: T = run(retrying(lambda: steps.call("call"), policy, name=name), lambda _: call())
    return result


def submission(
    order: Order, *, policy: RetryPolicy, connector: str, events: Events
) -> Plan[OrderAck]:
    """The plan of :func:`submit_order`: venue calls ``send`` and ``lookup`` (each with
    the order), waits between attempts."""
    coid = order.client_order_id
    ambiguous = False
    last_error: TransientError | None = None
    for attempt in range(policy.max_retries + 1):
        if attempt and last_error is not None:
            if _asks_too_long(last_error):
                break
            delay = policy.delay(attempt, last_error.retry_after)
            yield Wait(delay)
            events.order(
                "retried", connector, coid, attempt=attempt, reason=str(last_error), delay=delay
            )
        if ambiguous:
            try:
                found = yield Call("lookup", (order,))
            except TransientError as error:
                last_error = error
                continue
            if found is not None:
                return found  # type: ignore[no-any-return]
        try:
            events.order("sent", connector, coid, attempt=attempt + 1, symbol=order.symbol)
            return (yield Call("send", (order,), placing=True))  # type: ignore[no-any-return]
        except TransientError as error:
            ambiguous = ambiguous or error.ambiguous
            last_error = error
    assert last_error is not None
    if not ambiguous:
        # Every attempt failed before the venue could act on it: the order does not exist.
        raise last_error
    try:
        if not _asks_too_long(last_error):
            yield Wait(policy.delay(policy.max_retries + 1, last_error.retry_after))
        found = yield Call("lookup", (order,))
    except TransientError as error:
        raise OrderStatusUnknown(coid, f"{last_error}; lookup failed: {error}") from error
    if found is not None:
        return found  # type: ignore[no-any-return]
    raise OrderStatusUnknown(coid, str(last_error)) from last_error


def submit_order(
    order: Order,
    *,
    send: Callable[[Order], OrderAck],
    lookup: Callable[[Order], OrderAck | None],
    policy: RetryPolicy,
    connector: str,
    events: Events,
) -> OrderAck:
    """Send ``order`` at most once per venue, retrying only what is safe to retry.

    ``send`` places the order and raises :class:`TransientError` (``ambiguous`` when the
    venue may have received it); ``lookup`` finds an order by ``client_order_id`` and
    returns ``None`` when the venue does not have it.
    """
    calls = {"send": send, "lookup": lookup}
    plan = submission(order, policy=policy, connector=connector, events=events)
    return run(plan, lambda step: calls[step.name](*step.args))
