"""Binance's weights and order counts, kept against the recorded venue enforcing them."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pytest
from requests.structures import CaseInsensitiveDict

from qmtl_ccxt_common.metering import reported_usage, venue_limits
from qmtl_ccxt_common.recorded import BinanceReplay
from qmtl_ccxt_common.testing import LIMIT_ORDER
from qmtl_core.errors import RateLimited
from qmtl_core.rate_limits import Limit
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient

Make = Callable[..., CcxtBrokerageClient]
ORDERS_PER_SECOND = 3


def order(i: int) -> dict[str, str]:
    return {**LIMIT_ORDER, "client_order_id": f"budget-{i}"}


def test_limits_and_clock_come_from_the_venue(venue: BinanceReplay, make_client: Make) -> None:
    venue.clock_offset_ms = 90_000
    client = make_client(rate_limits={"orders_10s": "50/10s"})
    client.post_order(order(0))
    budget = client.rate_budget
    assert budget is not None
    assert budget.limits == {
        "weight_1m": Limit(6000, 60),
        "orders_10s": Limit(50, 10),  # qmtl.yml overrides the venue
        "orders_1d": Limit(200000, 86400),
        "raw_requests_5m": Limit(61000, 300),
    }
    assert budget.clock_offset == pytest.approx(90, abs=1)
    assert budget.account.startswith("binance:") and "spot-test-key" not in budget.account


def test_orders_never_exceed_the_venue_order_count(venue: BinanceReplay, make_client: Make) -> None:
    venue.set_rate_limits(
        [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 1,
             "limit": ORDERS_PER_SECOND},
        ]
    )  # fmt: skip
    client = make_client()
    for i in range(2 * ORDERS_PER_SECOND + 1):
        client.post_order(order(i))
    assert venue.limiter.refused == 0
    counted = [n for (pool, _), n in venue.limiter.admitted.items() if pool == "orders_1s"]
    assert sum(counted) == 2 * ORDERS_PER_SECOND + 1 and max(counted) <= ORDERS_PER_SECOND


def test_weight_the_venue_reports_holds_back_the_next_request(
    venue: BinanceReplay, make_client: Make
) -> None:
    client = make_client(rate_limit_max_wait=0)
    client.post_order(order(0))
    # Another program on this IP spends nearly all the weight of the minute...
    window = math.floor(time.time() / 60) * 60
    venue.limiter.admitted[("weight_1m", window)] = 5993
    client.poll_order_status("budget-0")  # ...which our next answer's header tells us
    sent = len(venue.requests)
    with pytest.raises(RateLimited) as info:
        client.poll_order_status("budget-0")  # weight 4: no room left this minute
    assert info.value.pool == "weight_1m" and info.value.by_budget
    assert len(venue.requests) == sent  # nothing was sent
    assert venue.limiter.refused == 0


def test_binance_rate_codes_are_rate_limited_and_block_the_account(
    venue: BinanceReplay, make_client: Make
) -> None:
    client = make_client(max_retries=0)
    venue.fail_next("POST", "order", "ipBanned", retry_after=120)
    with pytest.raises(RateLimited) as info:
        client.post_order(order(1))
    assert "-1003" in str(info.value)
    other = make_client(max_retries=0, rate_limit_max_wait=0.1)  # same key: same account
    sent = len(venue.requests)
    with pytest.raises(RateLimited) as blocked:
        other.post_order(order(2))
    assert blocked.value.pool == "blocked" and blocked.value.needed is not None
    assert blocked.value.needed > 100
    assert len(venue.requests) == sent


def test_usage_headers_name_pools() -> None:
    headers = {"X-MBX-USED-WEIGHT-1M": "42", "x-mbx-order-count-10s": "3", "Other": "1"}
    assert reported_usage(headers) == {"weight_1m": 42, "orders_10s": 3}
    assert venue_limits([{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                          "limit": 100}]) == {"orders_10s": Limit(100, 10)}  # fmt: skip


def test_usage_headers_read_from_a_requests_answer() -> None:
    headers = CaseInsensitiveDict(
        {"Date": "x", "X-MBX-USED-WEIGHT-1M": "42", "X-MBX-ORDER-COUNT-1D": "n/a"}
    )
    assert reported_usage(headers) == {"weight_1m": 42}  # a count that is no number: none
    assert reported_usage(None) == {} and reported_usage(CaseInsensitiveDict()) == {}
