"""Order rules written once, run by a blocking driver or on an event loop.

The rules that keep an order from being sent twice (retries, lookups after an
ambiguous failure, the journal's claim and record, the rate budget's waits) are
written as *plans*: generators that yield the steps they need and get each step's
result (or its exception) back. A plan does no I/O itself, so the same plan runs

- in the calling thread with :func:`run` (``time.sleep`` for a wait, direct calls), or
- on an asyncio loop with :func:`run_async` (``asyncio.sleep`` for a wait, venue calls
  awaited, local store I/O in a bounded thread pool),

and the synchronous and asynchronous order paths cannot drift apart.

Steps: :class:`Wait` (seconds), :class:`Blocking` (local store I/O: a journal or rate
budget call on SQLite or Redis) and :class:`Call` (a named venue call, which the driver
resolves: each connector says how to make it, blocking or awaitable).

An exception raised by a step, ``asyncio.CancelledError`` included, is thrown into the
plan at the step, so its ``try``/``finally`` blocks see exactly what the blocking code
would have seen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Wait:
    """Pause ``seconds`` (a retry backoff, a rate budget wait)."""

    seconds: float


@dataclass(frozen=True)
class Blocking:
    """Run ``fn``: quick local store I/O that must still stay off an event loop."""

    fn: Callable[[], Any]


class Call(NamedTuple):
    """The venue call ``name`` with ``args``; the driver's ``perform`` knows how to make it.

    ``placing``: the call may create an order. A named tuple, not a frozen dataclass:
    every venue call of every order builds one."""

    name: str
    args: tuple[Any, ...] = ()
    placing: bool = False


Step = Wait | Blocking | Call
#: A plan: yields steps, receives their results, returns its outcome.
Plan = Generator[Step, Any, T]


def call(name: str, *args: Any, placing: bool = False) -> Plan[Any]:
    """A plan of one venue call (to compose with ``yield from``)."""
    return (yield Call(name, args, placing))


def blocking(fn: Callable[[], T]) -> Plan[T]:
    """A plan of one blocking store call (to compose with ``yield from``)."""
    result: T = yield Blocking(fn)
    return result


def _unsupported(step: Call) -> Any:
    raise TypeError(f"this plan has no venue call {step.name!r}")


class _Cursor(Generic[T]):
    """Where a driver is in a plan: the next step, fed the last step's outcome."""

    def __init__(self, plan: Plan[T]) -> None:
        self.plan = plan
        self._resume: Callable[[Any], Step] = plan.send
        self._value: Any = None
        self.result: T | None = None

    def next_step(self) -> Step | None:
        """The plan's next step; None once it returned (its value in ``result``)."""
        try:
            return self._resume(self._value)
        except StopIteration as done:
            self.result = done.value
            return None

    def answer(self, value: Any) -> None:
        self._resume, self._value = self.plan.send, value

    def fail(self, error: BaseException) -> None:
        """Throw ``error`` into the plan at its step (cancellation included)."""
        self._resume, self._value = self.plan.throw, error


def run(plan: Plan[T], perform: Callable[[Call], Any] = _unsupported) -> T:
    """Drive ``plan`` in this thread: venue calls through ``perform``, waits by sleeping.

    The loop of :class:`_Cursor` written inline: every blocking order call runs
    several plans, so the driver itself stays a few bytecodes per step."""
    send = plan.send
    resume: Callable[[Any], Step] = send
    value: Any = None
    while True:
        try:
            step = resume(value)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        resume = send
        try:
            kind = type(step)
            if kind is Blocking:
                value = step.fn()  # type: ignore[union-attr]
            elif kind is Wait:
                time.sleep(step.seconds)  # type: ignore[union-attr]
                value = None
            else:
                value = perform(step)  # type: ignore[arg-type]
        except BaseException as exc:
            resume, value = plan.throw, exc


async def run_async(
    plan: Plan[T], perform: Callable[[Call], Awaitable[Any]], executor: Executor
) -> T:
    """Drive ``plan`` on the running loop: venue calls awaited through ``perform``,
    waits with ``asyncio.sleep``, store I/O in ``executor`` (never on the loop)."""
    loop = asyncio.get_running_loop()
    cursor = _Cursor(plan)
    while (step := cursor.next_step()) is not None:
        try:
            if isinstance(step, Wait):
                await asyncio.sleep(step.seconds)
                cursor.answer(None)
            elif isinstance(step, Blocking):
                cursor.answer(await loop.run_in_executor(executor, step.fn))
            else:
                cursor.answer(await perform(step))
        except BaseException as exc:
            cursor.fail(exc)
    return cursor.result  # type: ignore[return-value]
