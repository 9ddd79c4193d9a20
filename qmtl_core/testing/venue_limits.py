"""A venue's rate limits for test peers: fixed windows aligned to the clock, as Binance counts.

The referee of clients' budgets (the HTTP reference broker, the recorded Binance),
written independently of :mod:`qmtl_core.rate_budget`: each pool counts what arrives
in its current window (``floor(now / interval)``) and refuses a request that would
exceed the limit, with the seconds until the window ends.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Mapping

from qmtl_core.rate_limits import Limit


class WindowLimiter:
    """``admit({pool: cost})``: None when admitted (and counted), else seconds until room."""

    def __init__(self, limits: Mapping[str, Limit]) -> None:
        self.limits = dict(limits)
        self._lock = threading.Lock()
        #: Units admitted per (pool, window start in epoch seconds), for tests and demos.
        self.admitted: Counter[tuple[str, int]] = Counter()
        #: Requests refused with 429.
        self.refused = 0

    def admit(self, costs: Mapping[str, int]) -> float | None:
        now = time.time()
        with self._lock:
            wait = 0.0
            keys = []
            for pool, cost in costs.items():
                limit = self.limits.get(pool)
                if limit is None:
                    continue
                start = math.floor(now / limit.interval) * limit.interval
                keys.append((pool, start, cost))
                if self.admitted[(pool, start)] + cost > limit.limit:
                    wait = max(wait, start + limit.interval - now)
            if wait > 0:
                self.refused += 1
                return wait
            for pool, start, cost in keys:
                self.admitted[(pool, start)] += cost
            return None

    def used(self, pool: str) -> int:
        """Units counted so far in ``pool``'s current window (what usage headers report)."""
        limit = self.limits[pool]
        start = math.floor(time.time() / limit.interval) * limit.interval
        with self._lock:
            return self.admitted[(pool, start)]
