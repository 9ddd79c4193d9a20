"""RateBudget on each store (memory, SQLite, a real Redis server): the rules a caller relies on."""

from __future__ import annotations

import math
import time
import uuid
from pathlib import Path

import pytest

from qmtl_core.errors import ConfigError, RateLimited
from qmtl_core.rate_budget import BLOCKED, RateBudget
from qmtl_core.rate_limits import (
    Limit,
    RateLimitConfig,
    default_account,
    parse_limit,
    parse_rate_limits,
)
from qmtl_core.rate_stores import open_budget_store


@pytest.fixture(params=["memory", "sqlite", "redis"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    url: str = request.getfixturevalue("qmtl_redis_url")
    return url


@pytest.fixture
def account() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def make(state_url: str, account: str, limits: dict[str, str], **kwargs: float) -> RateBudget:
    parsed = parse_rate_limits(limits)
    return RateBudget(open_budget_store(state_url), account, parsed, **kwargs)


def test_a_request_takes_from_every_pool_or_from_none(state_url: str, account: str) -> None:
    budget = make(state_url, account, {"orders": "2/1d", "weight": "5/1d"}, max_wait=0)
    budget.acquire({"orders": 1, "weight": 1})
    budget.acquire({"orders": 1, "weight": 1})
    with pytest.raises(RateLimited) as info:
        budget.acquire({"orders": 1, "weight": 1})
    assert info.value.pool == "orders"
    assert info.value.by_budget and not info.value.ambiguous
    # The refused request took nothing from 'weight': its last three units are still there.
    budget.acquire({"weight": 3})
    with pytest.raises(RateLimited) as again:
        budget.acquire({"weight": 1})
    assert again.value.pool == "weight"
    budget.close()


def test_used_is_the_share_of_the_current_window_spent(state_url: str, account: str) -> None:
    budget = make(state_url, account, {"orders": "4/1d", "weight": "10/1d"}, max_wait=0)
    assert (budget.used("orders"), budget.used("weight")) == (0, 0)
    budget.acquire({"orders": 1, "weight": 3})
    budget.acquire({"orders": 2})
    with pytest.raises(RateLimited):
        budget.acquire({"orders": 2, "weight": 1})  # refused: counts nowhere
    assert (budget.used("orders"), budget.used("weight")) == (3 / 4, 3 / 10)
    budget.close()


def test_refusal_says_how_long_the_request_would_have_waited(state_url: str, account: str) -> None:
    budget = make(state_url, account, {"orders": "1/1d"}, max_wait=0.5)
    budget.acquire({"orders": 1})
    started = time.monotonic()
    with pytest.raises(RateLimited) as info:
        budget.acquire({"orders": 1})
    assert time.monotonic() - started < 0.5  # no point waiting for a day: refuse at once
    until_midnight = 86400 - time.time() % 86400
    assert info.value.needed == pytest.approx(until_midnight, abs=2)
    assert "rate_limit_max_wait" in str(info.value)
    budget.close()


def test_a_cost_above_the_limit_is_refused_at_once(state_url: str, account: str) -> None:
    budget = make(state_url, account, {"weight": "10/1d"})
    with pytest.raises(RateLimited) as info:
        budget.acquire({"weight": 11})
    assert info.value.needed == math.inf and "can never fit" in str(info.value)
    budget.close()


def test_clients_of_one_account_share_it_and_other_accounts_do_not(
    state_url: str, account: str
) -> None:
    first = make(state_url, account, {"orders": "3/1d"}, max_wait=0)
    second = make(state_url, account, {"orders": "3/1d"}, max_wait=0)
    other = make(state_url, account + "-other", {"orders": "3/1d"}, max_wait=0)
    first.acquire({"orders": 2})
    second.acquire({"orders": 1})
    with pytest.raises(RateLimited):
        first.acquire({"orders": 1})
    other.acquire({"orders": 3})
    for budget in (first, second, other):
        budget.close()


def test_pools_without_a_limit_cost_nothing(state_url: str, account: str) -> None:
    budget = make(state_url, account, {}, max_wait=0)
    for _ in range(50):
        budget.acquire({"orders": 1, "requests": 1})
    budget.close()


def test_venue_usage_raises_the_counters_but_never_lowers_them(
    state_url: str, account: str
) -> None:
    budget = make(state_url, account, {"weight": "10/1d"}, max_wait=0)
    budget.acquire({"weight": 2})
    budget.observe({"weight": 8})  # the venue counted traffic we did not see
    budget.observe({"weight": 1})  # a stale report never gives budget back
    budget.acquire({"weight": 2})
    with pytest.raises(RateLimited):
        budget.acquire({"weight": 1})
    budget.close()


def test_a_block_stops_every_client_of_the_account_until_it_ends(
    state_url: str, account: str
) -> None:
    blocked = make(state_url, account, {})  # no limits configured: a block still holds
    other = make(state_url, account, {}, max_wait=0)
    blocked.block(0.4)
    with pytest.raises(RateLimited) as info:
        other.acquire({"requests": 1})
    assert info.value.pool == BLOCKED
    waits: list[tuple[str, float]] = []
    started = time.monotonic()
    blocked.acquire({"requests": 1}, on_wait=lambda pool, s: waits.append((pool, s)))
    assert time.monotonic() - started >= 0.3
    assert waits and waits[0][0] == BLOCKED and 0.2 < waits[0][1] <= 0.4
    other.close()
    blocked.close()


def test_fixed_windows_are_spent_fully_and_never_overrun(state_url: str, account: str) -> None:
    """Hammer a 5/1s pool for two windows: at most 5 grants per clock second, and all 5."""
    budget = make(state_url, account, {"orders": "5/1s"}, max_wait=2, margin=0.05)
    start = math.floor(time.time()) + 1
    while time.time() < start:
        time.sleep(start - time.time())
    granted: list[float] = []
    while time.time() < start + 2:
        budget.acquire({"orders": 1})
        granted.append(time.time())
    per_second: dict[int, int] = {}
    touched: dict[int, int] = {}  # a grant near an edge may land in either window
    for t in granted:
        if t < start + 2:
            per_second[math.floor(t)] = per_second.get(math.floor(t), 0) + 1
        for window in {math.floor(t - 0.05), math.floor(t + 0.05)}:
            touched[window] = touched.get(window, 0) + 1
    assert max(touched.values()) <= 5
    assert per_second == {start: 5, start + 1: 5}
    budget.close()


def test_the_budget_follows_the_venue_clock(state_url: str, account: str) -> None:
    budget = make(state_url, account, {"orders": "1/1d"}, max_wait=0)
    ahead = 3600.0
    offset = budget.sync_clock(lambda: time.time() + ahead)
    assert offset == pytest.approx(ahead, abs=0.5)
    budget.acquire({"orders": 1})
    with pytest.raises(RateLimited) as info:
        budget.acquire({"orders": 1})
    until_venue_midnight = 86400 - (time.time() + ahead) % 86400
    assert info.value.needed == pytest.approx(until_venue_midnight, abs=2)
    budget.close()


@pytest.mark.parametrize(
    ("text", "limit"),
    [("40/1s", Limit(40, 1)), ("1200/1m", Limit(1200, 60)), ("100/10s", Limit(100, 10)),
     ("200000/1d", Limit(200000, 86400)), ("5/h", Limit(5, 3600))],
)  # fmt: skip
def test_limits_read_like_the_venue_writes_them(text: str, limit: Limit) -> None:
    assert parse_limit(text) == limit
    assert parse_limit(str(limit)) == limit


@pytest.mark.parametrize("text", ["40", "40/1x", "0/1s", "40/0s", "forty/1s", 40])
def test_bad_limits_say_the_form(text: object) -> None:
    with pytest.raises(ValueError, match="LIMIT/INTERVAL"):
        parse_limit(text)


def test_settings_errors_name_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        RateLimitConfig.parse({"rate_limits": {"orders": "40 per second"}})
    assert info.value.key == "rate_limits" and "pool 'orders'" in str(info.value)
    with pytest.raises(ConfigError) as wait:
        RateLimitConfig.parse({"rate_limit_max_wait": -1})
    assert wait.value.key == "rate_limit_max_wait"


def test_the_default_account_never_shows_the_key() -> None:
    name = default_account("binance", "my-very-secret-api-key")
    assert name.startswith("binance:") and "secret" not in name
    assert name == default_account("binance", "my-very-secret-api-key")
    assert name != default_account("binance", "another-key")
