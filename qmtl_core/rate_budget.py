"""One rate budget per account, shared by every process that trades it.

The model is the venue's: each pool (``orders``, ``weight_1m`` ...) allows ``limit``
units per fixed window of ``interval`` seconds aligned to the clock (Binance counts
this way; a window starts at a multiple of its interval since the Unix epoch, so a
day starts at 00:00 UTC). Fixed windows, not a sliding log, because they let a client
spend exactly what the venue would accept: a sliding window is never refused but
gives away up to half of the budget at every window edge.

Two things blur a window's edge: the time from grant to arrival, and the offset
between our clock and the venue's. A grant made within ``margin`` seconds of an edge
is therefore charged to *both* windows it might land in. Under load, every window
opens ``margin`` seconds late and then spends its whole limit, so nothing is lost.

``acquire({pool: cost})`` is all or nothing: a request that counts against several
limits takes from all of them in one atomic step, or from none. The step runs where
the state is (see :mod:`qmtl_core.rate_stores`): in one Lua script on the Redis
server with the server's clock, in one ``BEGIN IMMEDIATE`` SQLite transaction, or
under a lock in this process. Nothing is held between calls, so a process killed
while waiting or after a grant cannot wedge anyone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from qmtl_core.errors import RateLimited
from qmtl_core.rate_limits import DEFAULT_MAX_WAIT_SECONDS, Limit
from qmtl_core.steps import Plan, Wait, blocking, run

#: The pool named when the whole account is blocked by a venue's 429/418.
BLOCKED = "blocked"
#: Seconds around a window edge where a grant counts in both windows it may land in.
DEFAULT_MARGIN_SECONDS = 0.1
#: Costs mappings whose charges a budget keeps (see ``RateBudget._charges``).
CHARGES_KEPT = 64
#: How long a 429/418 without a usable ``Retry-After`` blocks the account.
DEFAULT_BLOCK_SECONDS = 1.0

Charge = tuple[str, int, Limit]
#: A costs mapping, the limits it was priced in, a copy of it, and its charges.
_Charged = tuple[Mapping[str, int], Mapping[str, Limit], dict[str, int], list[Charge]]
#: What the venue said it counted in a pool: ``(pool, limit, used)``.
Report = tuple[str, Limit, int]


@dataclass(frozen=True)
class Take:
    """A store's answer: granted, or the seconds until the refusing ``pool`` has room."""

    granted: bool
    wait: float = 0.0
    pool: str | None = None


#: The answer of every grant (one shared object: a grant carries nothing else).
GRANTED = Take(True)


class BudgetStore(Protocol):
    """Where the counters live; each method is one atomic step on the store's clock.

    ``offset`` is the venue's clock minus the store's, in seconds: windows are cut on
    the venue's clock.
    """

    def take(self, account: str, charges: list[Charge], margin: float, offset: float) -> Take: ...

    def observe(self, account: str, reports: list[Report], margin: float, offset: float) -> None:
        """Raise each ``(pool, limit, used)`` counter to ``used`` (never lower it)."""
        ...

    def block(self, account: str, seconds: float, offset: float) -> None: ...

    def used(self, account: str, pool: str, limit: Limit, offset: float) -> float:
        """Units counted in ``pool``'s current window (read only)."""
        ...

    def now(self) -> float: ...

    def close(self) -> None: ...


class RateBudget:
    """The shared budget of one ``account``: ``acquire`` before every request.

    ``limits`` are the configured pools; ``defaults`` (e.g. read from the venue) apply
    to pools the configuration does not name. Costs for pools without a limit are
    ignored, so a connector can always state what a request costs.
    """

    def __init__(
        self,
        store: BudgetStore,
        account: str,
        limits: Mapping[str, Limit] | None = None,
        *,
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
        margin: float = DEFAULT_MARGIN_SECONDS,
    ) -> None:
        self.store = store
        self.account = account
        self.max_wait = max_wait
        self.margin = margin
        #: The venue's clock minus the store's (seconds); see :meth:`sync_clock`.
        self.clock_offset = 0.0
        self._configured = dict(limits or {})
        self._defaults: dict[str, Limit] = {}
        for pool, limit in self._configured.items():
            self._check_margin(pool, limit)
        self._limits = dict(self._configured)
        #: id(costs) -> (costs, limits, a copy of costs, charges): see :meth:`_charges`.
        self._charged: dict[int, _Charged] = {}

    def __repr__(self) -> str:
        pools = ", ".join(f"{p}={lim}" for p, lim in self.limits.items())
        return f"RateBudget(account={self.account!r}, {pools or 'no limits'})"

    @property
    def limits(self) -> dict[str, Limit]:
        """Every pool in force: the venue's defaults overridden by the configuration.

        Merged once per change (read on every request): treat it as read-only."""
        return self._limits

    def set_defaults(self, limits: Mapping[str, Limit]) -> None:
        """The venue's own limits, for pools the configuration leaves out."""
        for pool, limit in limits.items():
            self._check_margin(pool, limit)
        self._defaults = dict(limits)
        self._limits = {**self._defaults, **self._configured}

    def _check_margin(self, pool: str, limit: Limit) -> None:
        if 2 * self.margin >= limit.interval:
            raise ValueError(
                f"pool '{pool}': the margin of {self.margin}s leaves nothing of a "
                f"{limit.interval}s window; use a smaller margin"
            )

    def acquire(
        self, costs: Mapping[str, int], *, on_wait: Callable[[str, float], None] | None = None
    ) -> float:
        """Take ``costs`` from every pool at once, waiting at most ``max_wait``; seconds waited.

        ``on_wait(pool, seconds)`` is told before each wait. Raises :class:`RateLimited`
        (``by_budget``, with the pool and the seconds it would have needed) when the
        budget cannot be had in time; then nothing was taken and nothing may be sent.
        """
        return run(self.acquisition(costs, on_wait=on_wait))

    def try_acquire(self, costs: Mapping[str, int]) -> bool:
        """Take ``costs`` in one store step if there is room now (True), else take nothing
        (False: :meth:`acquire` then waits). The blocking path's first try, without a plan."""
        return self.store.take(
            self.account, self._charges(costs), self.margin, self.clock_offset
        ).granted

    def _charges(self, costs: Mapping[str, int]) -> list[Charge]:
        """``costs`` in the pools that have a limit; a cost over its whole limit raises.

        Connectors price requests with a few shared costs mappings: each one's charges
        are kept while it and the limits stay the same (compared, so a mapping changed
        in place is priced again)."""
        limits = self._limits
        kept = self._charged.get(id(costs))
        if kept is not None and kept[0] is costs and kept[1] is limits and kept[2] == costs:
            return kept[3]
        charges = self._price(costs, limits)
        if len(self._charged) >= CHARGES_KEPT:
            self._charged.clear()
        self._charged[id(costs)] = (costs, limits, dict(costs), charges)
        return charges

    @staticmethod
    def _price(costs: Mapping[str, int], limits: Mapping[str, Limit]) -> list[Charge]:
        """``costs`` as charges in ``limits``' pools; a cost over its whole limit raises."""
        charges = [(pool, cost, limits[pool]) for pool, cost in costs.items() if pool in limits]
        for pool, cost, limit in charges:
            if cost > limit.limit:
                raise RateLimited(
                    f"a request costing {cost} in pool '{pool}' can never fit its limit "
                    f"{limit}; raise the limit in rate_limits",
                    pool=pool,
                    needed=math.inf,
                    by_budget=True,
                )
        return charges

    def acquisition(
        self, costs: Mapping[str, int], *, on_wait: Callable[[str, float], None] | None = None
    ) -> Plan[float]:
        """The plan of :meth:`acquire` (store steps and waits, see :mod:`qmtl_core.steps`),
        so an event loop waits with ``asyncio.sleep`` and keeps store I/O off the loop."""
        charges = self._charges(costs)
        take_now = partial(self.store.take, self.account, charges, self.margin)
        start = time.monotonic()
        while True:
            take = yield from blocking(partial(take_now, self.clock_offset))
            waited = time.monotonic() - start
            if take.granted:
                return waited
            pool = take.pool or BLOCKED
            if waited + take.wait > self.max_wait:
                raise RateLimited(
                    f"rate budget of account '{self.account}': pool '{pool}' has no room for "
                    f"{take.wait:.3f}s more (waited {waited:.3f}s, rate_limit_max_wait is "
                    f"{self.max_wait:g}s); the request was not sent",
                    retry_after=take.wait,
                    pool=pool,
                    needed=waited + take.wait,
                    by_budget=True,
                )
            if on_wait is not None:
                on_wait(pool, take.wait)
            yield Wait(take.wait)

    def observe(self, used: Mapping[str, int]) -> None:
        """Raise shared counters to what the venue reports it counted (never lower them)."""
        limits = self._limits
        reports = [(pool, limits[pool], count) for pool, count in used.items() if pool in limits]
        if reports:
            self.store.observe(self.account, reports, self.margin, self.clock_offset)

    def block(self, seconds: float | None) -> None:
        """The venue said 429/418: nothing leaves for any process of this account until then."""
        wait = DEFAULT_BLOCK_SECONDS if seconds is None else seconds
        self.store.block(self.account, wait, self.clock_offset)

    def used(self, pool: str) -> float:
        """The fraction of ``pool``'s current window already spent (0 to 1; above 1 when
        the venue reported more than the configured limit). One read of the store: what
        the ``qmtl_rate_budget_used`` gauge exports at each scrape."""
        limit = self.limits[pool]
        return self.store.used(self.account, pool, limit, self.clock_offset) / limit.limit

    def sync_clock(self, venue_now: Callable[[], float]) -> float:
        """Measure the venue's clock (``venue_now`` in epoch seconds) against the store's.

        Sets and returns :attr:`clock_offset`; the round trip's half is the error left,
        which the margin must cover.
        """
        before = self.store.now()
        venue = venue_now()
        after = self.store.now()
        self.clock_offset = venue - (before + after) / 2
        return self.clock_offset

    def close(self) -> None:
        self.store.close()
