"""The native async twin of a ccxt client: the same plans on a ``ccxt.async_support``
exchange.

``AsyncCcxtVenue`` is what ``CcxtClient.async_venue`` gives ``qmtl_core.aio.AsyncBrokerage``:
an async exchange built by ``open_venue`` from the client's own config (secrets,
sandbox/demo routing and options identical), metered against the client's rate
budget, and the client's ccxt plans (``send_plan``, ``lookup_plan`` ...) driven on it.
Nothing is copied from the blocking client: only the driver differs.

ccxt keeps the last answer on the exchange object, so calls on one exchange go one at
a time (as on the blocking side): many concurrent orders queue on the loop without
blocking it.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import ccxt.async_support

from qmtl_ccxt_common.metering import AsyncVenueMeter
from qmtl_ccxt_common.venue import AsyncVenue, open_venue
from qmtl_core.aio import ExecutorVenue
from qmtl_core.steps import Call, Plan, run_async

if TYPE_CHECKING:
    from qmtl_ccxt_common.client import CcxtClient


class AsyncCcxtVenue:
    """Venue calls of ``client`` on its own ``ccxt.async_support`` exchange.

    A client adopted from a ready (blocking) exchange instance has no config to build
    an async twin from; its calls then run in ``executor`` (:class:`ExecutorVenue`).
    """

    def __init__(self, client: CcxtClient, executor: Executor) -> None:
        self.client = client
        self.executor = executor
        self.fallback: ExecutorVenue | None = None
        self.venue: AsyncVenue | None = None
        if client.adopted:
            self.fallback = ExecutorVenue(client, executor)
            return
        venue = open_venue(client.config, client.product, library=ccxt.async_support)
        assert isinstance(venue, AsyncVenue)
        self.venue = venue
        venue.on_rate_limited_async = self._rate_limited
        AsyncVenueMeter(client, venue.exchange, executor)

    @property
    def exchange(self) -> Any:
        """The ``ccxt.async_support`` exchange (None for an adopted blocking instance)."""
        return None if self.venue is None else self.venue.exchange

    async def perform(self, step: Call) -> Any:
        """One venue call of a brokerage plan, as the client's ccxt plan on the async
        exchange."""
        if self.fallback is not None:
            return await self.fallback.perform(step)
        client = self.client
        plan: Plan[Any]
        if step.name == "validate":
            (order,) = step.args
            plan = client.validating(order, self.exchange)
        else:
            plan = getattr(client, client.VENUE_PLANS[step.name])(*step.args)
        return await run_async(plan, self._ccxt, self.executor)

    async def _ccxt(self, step: Call) -> Any:
        assert self.venue is not None
        action, method, args = step.args
        exchange = self.venue.exchange
        return await self.venue.acall(
            action, lambda: getattr(exchange, method)(*args), placing=step.placing
        )

    async def _rate_limited(self, retry_after: float | None) -> None:
        await run_async(self.client.answering(429, retry_after, {}), self._ccxt, self.executor)

    async def aclose(self) -> None:
        """Close the async exchange's HTTP session."""
        if self.venue is not None:
            await self.venue.exchange.close()
