"""Faults the reference broker injects on request, so tests can prove the client copes.

Each fault replaces the answer to the next matching request(s). With ``accept`` the
broker acts on the request first (the order is placed, the cancel done) and only the
answer goes wrong: the ambiguous case a client must survive without a duplicate.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

FaultKind = Literal["status", "stall", "reset", "malformed", "bad_status"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
METHODS = ("GET", "POST", "DELETE")


@dataclass(frozen=True)
class Fault:
    """One misbehaviour. ``method`` limits it to requests of that method (None: any).

    - ``status``: answer ``status`` with ``message`` (and ``Retry-After`` if given)
    - ``stall``: answer ``seconds`` late, then close; with ``accept`` the broker acts at
      once, otherwise only when the delay ends (a request stuck in a queue)
    - ``reset``: reset the TCP connection instead of answering
    - ``malformed``: answer 200 with a truncated JSON body
    - ``bad_status``: answer normally but with order status ``status_text``
    """

    kind: FaultKind
    method: str | None = None
    accept: bool = False
    status: int = 500
    retry_after: str | None = None
    message: str = "injected fault"
    seconds: float = 5.0
    status_text: str = "on_hold"

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}, got {self.kind!r}")
        if self.method is not None and self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if not isinstance(self.accept, bool):
            raise ValueError(f"accept must be true or false, got {self.accept!r}")
        if _not_int(self.status) or not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status 100-599, got {self.status!r}")
        if (_not_int(self.seconds) and not isinstance(self.seconds, float)) or not (
            self.seconds >= 0
        ):
            raise ValueError(f"seconds must be a number >= 0, got {self.seconds!r}")
        for name in ("message", "status_text"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be text, got {getattr(self, name)!r}")
        if self.kind == "bad_status" and not self.accept:
            raise ValueError("a bad_status fault rewrites the real answer: it needs accept=True")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """Build from an admin request body; ``ValueError`` names the offending field."""
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(known) - {"times"})
        if unknown:
            raise ValueError(f"unknown fault field(s) {unknown}; known: {sorted(known)}")
        values = dict(data)
        values.pop("times", None)
        if "retry_after" in values and values["retry_after"] is not None:
            values["retry_after"] = str(values["retry_after"])
        if "kind" not in values:
            raise ValueError(f"'kind' is required: one of {', '.join(FAULT_KINDS)}")
        return cls(**values)


def _not_int(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


@dataclass
class _Pending:
    fault: Fault
    remaining: int


class FaultPlan:
    """A thread-safe queue of pending faults; the server takes one per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []

    def add(self, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` matching requests, after earlier faults."""
        if _not_int(times) or times < 1:
            raise ValueError(f"times must be a whole number >= 1, got {times!r}")
        with self._lock:
            self._pending.append(_Pending(fault, times))

    def take(self, method: str) -> Fault | None:
        """The fault for this request, if any is pending for its method."""
        with self._lock:
            for entry in self._pending:
                if entry.fault.method in (None, method):
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        self._pending.remove(entry)
                    return entry.fault
        return None

    def pending(self) -> int:
        """How many faulty answers are still to come."""
        with self._lock:
            return sum(entry.remaining for entry in self._pending)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    # --- the faults tests and demos ask for ------------------------------------------

    def fail_next(
        self,
        times: int = 1,
        status: int = 500,
        *,
        method: str | None = None,
        accept: bool = False,
        retry_after: float | None = None,
        message: str = "injected failure",
    ) -> None:
        """Answer ``status`` (e.g. 500, 503, 400) with ``message``."""
        after = None if retry_after is None else f"{retry_after:g}"
        self.add(Fault("status", method, accept, status, after, message), times)

    def rate_limit_next(
        self, times: int = 1, retry_after: float = 1.0, *, method: str | None = None
    ) -> None:
        """Answer 429 Too Many Requests with ``Retry-After``."""
        self.fail_next(
            times, 429, method=method, retry_after=retry_after, message="rate limit exceeded"
        )

    def stall_next(
        self,
        times: int = 1,
        seconds: float = 5.0,
        *,
        method: str | None = None,
        accept: bool = True,
    ) -> None:
        """Act (with ``accept``, else only after the delay) and answer ``seconds`` late."""
        self.add(Fault("stall", method, accept, seconds=seconds), times)

    def reset_next(
        self, times: int = 1, *, method: str | None = None, accept: bool = False
    ) -> None:
        """Reset the connection after reading the request (and acting on it with ``accept``)."""
        self.add(Fault("reset", method, accept), times)

    def malformed_next(
        self, times: int = 1, *, method: str | None = None, accept: bool = True
    ) -> None:
        """Answer 200 with a body that is not valid JSON."""
        self.add(Fault("malformed", method, accept), times)

    def bad_status_next(
        self, times: int = 1, status_text: str = "on_hold", *, method: str | None = None
    ) -> None:
        """Answer normally, but report the order's status as ``status_text``."""
        self.add(Fault("bad_status", method, True, status_text=status_text), times)
