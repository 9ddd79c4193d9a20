"""Every ccxt request through the account's rate budget, priced the way the venue prices it.

ccxt's own ``enableRateLimit`` paces one process; this meters all processes of an
account. Each request (ccxt's ``fetch2``) costs, in the budget's pools:

- ``weight_<interval>`` (Binance ``REQUEST_WEIGHT``): the endpoint's weight, from ccxt's
  per-endpoint ``cost`` table scaled to the venue's unit (ccxt spends ``rateLimit`` ms
  per cost unit; Binance's weight limit per minute fixes how much weight that is);
- ``raw_requests_<interval>`` and ``requests``: 1;
- ``orders_<interval>`` and ``orders``: 1 when the request places an order.

Binance's pools and limits come from ``exchangeInfo`` (``rateLimits``) the first time
ccxt loads markets, together with the venue's clock; ``rate_limits`` in ``qmtl.yml``
override them. After every answer the shared counters are raised to the venue's
``X-MBX-USED-WEIGHT-*`` and ``X-MBX-ORDER-COUNT-*`` headers.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from concurrent.futures import Executor
from functools import lru_cache
from typing import Any

from qmtl_core.brokerage import BaseBrokerageClient
from qmtl_core.rate_limits import UNITS, Limit
from qmtl_core.steps import Call, run_async

#: Binance ``rateLimitType`` -> pool name prefix.
POOL_KINDS = {"REQUEST_WEIGHT": "weight", "ORDERS": "orders", "RAW_REQUESTS": "raw_requests"}
#: Binance ``interval`` -> unit letter of ``rate_limits``.
INTERVAL_UNITS = {"SECOND": "s", "MINUTE": "m", "HOUR": "h", "DAY": "d"}
#: Endpoints (ccxt paths) whose POST places orders.
ORDER_PATHS = frozenset({"order", "batchOrders", "order/oco", "orderList/oco", "orderList/oto"})
_USAGE_HEADER = re.compile(r"^x-mbx-(used-weight|order-count)-(\d+)([smhd])$", re.IGNORECASE)
_HEADER_KINDS = {"used-weight": "weight", "order-count": "orders"}


def venue_limits(rate_limits: Any) -> dict[str, Limit]:
    """Binance's ``exchangeInfo.rateLimits`` as pools: ``weight_1m``, ``orders_10s`` ..."""
    limits: dict[str, Limit] = {}
    for entry in rate_limits if isinstance(rate_limits, list) else []:
        kind = POOL_KINDS.get(entry.get("rateLimitType"))
        unit = INTERVAL_UNITS.get(entry.get("interval"))
        count, limit = entry.get("intervalNum"), entry.get("limit")
        if kind and unit and isinstance(count, int) and isinstance(limit, int) and limit > 0:
            limits[f"{kind}_{count}{unit}"] = Limit(limit, count * UNITS[unit])
    return limits


def reported_usage(headers: Mapping[str, Any] | None) -> dict[str, int]:
    """Usage the venue reports in its answer headers, by pool."""
    used: dict[str, int] = {}
    # requests' CaseInsensitiveDict reads items one lookup at a time; lower_items does not.
    lower_items = getattr(headers, "lower_items", None)
    if lower_items is not None:
        items = lower_items()
    elif headers:
        items = headers.items()
    else:
        return used
    for name, value in items:
        pool = _usage_pool(name)
        if pool is not None and (count := str(value)).isdigit():
            used[pool] = int(count)
    return used


@lru_cache(maxsize=256)
def _usage_pool(header: object) -> str | None:
    """The pool a usage header reports (``X-MBX-USED-WEIGHT-1M`` -> ``weight_1m``), else
    None; parsed once per header name (the same few come with every answer)."""
    match = _USAGE_HEADER.match(str(header))
    if match is None:
        return None
    return f"{_HEADER_KINDS[match[1].lower()]}_{match[2]}{match[3].lower()}"


def _pool_costs(limits: Mapping[str, Any], weight: int, placing: bool) -> dict[str, int]:
    """A request's costs in ``limits``' pools: ``weight`` in each ``weight_*`` pool, 1 in
    ``requests`` and each ``raw_requests_*`` pool, and 1 in the order pools if ``placing``."""
    each = {"weight": weight, "raw_requests": 1, "orders": 1 if placing else 0}
    costs = {"requests": 1}
    if placing:
        costs["orders"] = 1
    for pool in limits:
        kind = next((k for k in each if pool.startswith(f"{k}_")), None)
        if kind is not None and each[kind]:
            costs[pool] = each[kind]
    return costs


class VenueMeter:
    """Wraps one ccxt exchange so each request spends from ``client``'s budget first."""

    def __init__(self, client: BaseBrokerageClient, exchange: Any) -> None:
        self._client = client
        self._exchange = exchange
        self._weight_per_cost = 1.0
        self._fetch2 = exchange.fetch2
        self._fetch = exchange.fetch
        # Costs by (weight, placing) in the budget's pools, redone only when its limits change.
        self._costs_for: Mapping[str, Any] | None = None
        self._costs: dict[tuple[int, bool], Mapping[str, int]] = {}
        exchange.fetch2 = self._metered
        exchange.fetch = self._observed

    def costs(
        self, path: str, api: Any, method: str, params: Any, config: Any
    ) -> Mapping[str, int]:
        """What one request costs in every pool it may count against (shared: read only)."""
        cost = float(self._exchange.calculate_rate_limiter_cost(api, method, path, params, config))
        weight = max(1, round(cost * self._weight_per_cost))
        key = (weight, method == "POST" and path in ORDER_PATHS)
        budget = self._client.rate_budget
        limits = budget.limits if budget is not None else {}
        if limits is not self._costs_for:
            self._costs, self._costs_for = {}, limits
        found = self._costs.get(key)
        if found is None:
            found = self._costs[key] = _pool_costs(limits, *key)
        return found

    def _priced(
        self, path: str, api: Any, method: str, params: Any, config: Any
    ) -> tuple[dict[str, Any], dict[str, Any], str, Mapping[str, int]]:
        """A request's params and config (never None), the order it is for, its costs."""
        params = {} if params is None else params
        config = {} if config is None else config
        ref = params.get("newClientOrderId") or params.get("origClientOrderId") or path
        return params, config, str(ref), self.costs(path, api, method, params, config)

    def _metered(
        self,
        path: str,
        api: Any = "public",
        method: str = "GET",
        params: Any = None,
        config: Any = None,
    ) -> Any:
        params, config, ref, costs = self._priced(path, api, method, params, config)
        self._client.spend(costs, ref)
        result = self._fetch2(path, api, method, params, config)
        if path == "exchangeInfo" and isinstance(result, dict):
            self._adopt(result)
        return result

    def _observed(
        self, url: str, method: str = "GET", headers: Any = None, body: Any = None
    ) -> Any:
        try:
            return self._fetch(url, method, headers, body)
        finally:
            used = reported_usage(self._exchange.last_response_headers)
            if used:
                self._client.answered(None, None, used)

    def _adopt(self, info: Mapping[str, Any]) -> None:
        """The venue's own limits and clock, read once from ``exchangeInfo``."""
        budget = self._client.rate_budget
        if self._adopt_limits(info) and budget is not None:
            budget.sync_clock(lambda: float(self._exchange.fetch_time()) / 1000)

    def _adopt_limits(self, info: Mapping[str, Any]) -> bool:
        """The venue's own limits; True when it published its clock too."""
        budget = self._client.rate_budget
        limits = venue_limits(info.get("rateLimits"))
        if budget is None or not limits:
            return False
        budget.set_defaults(limits)
        per_minute = [
            lim.limit * 60 / lim.interval for p, lim in limits.items() if p.startswith("weight_")
        ]
        rate_limit_ms = float(getattr(self._exchange, "rateLimit", 0) or 0)
        if per_minute and rate_limit_ms > 0:
            # ccxt allows 60000/rateLimit cost units a minute, the venue per_minute weight.
            self._weight_per_cost = per_minute[0] * rate_limit_ms / 60000
        return isinstance(info.get("serverTime"), int)


class AsyncVenueMeter(VenueMeter):
    """:class:`VenueMeter` for a ``ccxt.async_support`` exchange: the same costs from the
    same budget, spent through the client's plans on the loop (``asyncio.sleep`` waits,
    store I/O in ``executor``)."""

    def __init__(self, client: BaseBrokerageClient, exchange: Any, executor: Executor) -> None:
        self._executor = executor
        super().__init__(client, exchange)

    async def _metered(
        self,
        path: str,
        api: Any = "public",
        method: str = "GET",
        params: Any = None,
        config: Any = None,
    ) -> Any:
        params, config, ref, costs = self._priced(path, api, method, params, config)
        await run_async(self._client.spending(costs, ref), _no_calls, self._executor)
        result = await self._fetch2(path, api, method, params, config)
        if path == "exchangeInfo" and isinstance(result, dict) and self._adopt_limits(result):
            budget = self._client.rate_budget
            assert budget is not None
            venue_now = float(await self._exchange.fetch_time()) / 1000
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, budget.sync_clock, lambda: venue_now)
        return result

    async def _observed(
        self, url: str, method: str = "GET", headers: Any = None, body: Any = None
    ) -> Any:
        try:
            return await self._fetch(url, method, headers, body)
        finally:
            used = reported_usage(self._exchange.last_response_headers)
            if used:
                plan = self._client.answering(None, None, used)
                await run_async(plan, _no_calls, self._executor)


async def _no_calls(step: Call) -> Any:
    raise TypeError(f"a rate budget plan makes no venue call ({step.name})")
