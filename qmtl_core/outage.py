"""The reconnect budget of one outage: how long to wait next, and when to give up.

An outage starts when a healthy connection is lost (or at start) and lasts until a
new connection has stayed up for ``healthy_after`` seconds, so a peer that accepts and
drops at once keeps backing off instead of resetting the budget each time. Delays
are the core's capped exponential backoff with jitter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from qmtl_core import runtime
from qmtl_core.execution import RetryPolicy


@dataclass
class Outage:
    max_retries: int | None = None
    max_total_time: float | None = None
    backoff: float | None = None
    max_backoff: float | None = None
    started: float = field(default_factory=time.monotonic)
    attempts: int = 0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def next_delay(self) -> float | None:
        """Seconds to wait before the next attempt, or None when the budget is spent."""
        self.attempts += 1
        if self.max_retries is not None and self.attempts > self.max_retries:
            return None
        initial, cap = self.backoff, self.max_backoff
        policy = RetryPolicy(
            backoff=initial if initial is not None else runtime.WS_BACKOFF_INITIAL_SECONDS,
            max_backoff=cap if cap is not None else runtime.WS_BACKOFF_MAX_SECONDS,
        )
        delay = policy.delay(self.attempts)
        if self.max_total_time is not None and self.elapsed + delay > self.max_total_time:
            return None
        return delay


def was_healthy(connected_for: float, healthy_after: float | None) -> bool:
    """True when a connection that lasted ``connected_for`` seconds ends the outage."""
    limit = healthy_after if healthy_after is not None else runtime.WS_HEALTHY_AFTER_SECONDS
    return connected_for >= limit
