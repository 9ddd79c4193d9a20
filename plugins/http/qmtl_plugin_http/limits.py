"""The reference broker's rate limits: fixed windows aligned to the clock, as Binance counts.

A referee for clients' budgets, written independently of them: each pool counts the
requests that arrive in the current window (``floor(now / interval)``) and refuses
one that would exceed the limit, with the seconds until the window ends. Every order
request costs 1 in ``requests``; placing an order (a POST) also costs 1 in ``orders``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Mapping

from qmtl_core.rate_limits import Limit


class WindowLimiter:
    """``admit(pools)``: None when admitted (and counted), else seconds until there is room."""

    def __init__(self, limits: Mapping[str, Limit]) -> None:
        self.limits = dict(limits)
        self._lock = threading.Lock()
        #: Requests admitted per (pool, window start in epoch seconds), for tests and demos.
        self.admitted: Counter[tuple[str, int]] = Counter()
        #: Requests refused with 429.
        self.refused = 0

    def admit(self, pools: list[str]) -> float | None:
        now = time.time()
        with self._lock:
            wait = 0.0
            keys = []
            for pool in pools:
                limit = self.limits.get(pool)
                if limit is None:
                    continue
                start = math.floor(now / limit.interval) * limit.interval
                keys.append((pool, start))
                if self.admitted[(pool, start)] >= limit.limit:
                    wait = max(wait, start + limit.interval - now)
            if wait > 0:
                self.refused += 1
                return wait
            for key in keys:
                self.admitted[key] += 1
            return None
