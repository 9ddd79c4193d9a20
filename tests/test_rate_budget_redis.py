"""A Redis rate budget over the connections its store holds (qmtl_core.redis_scripts):
each caller gets its own answer, whatever happens to the server or the process."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

import pytest
import redis

from qmtl_core.errors import RateLimited
from qmtl_core.rate_budget import RateBudget
from qmtl_core.rate_limits import parse_rate_limits
from qmtl_core.rate_stores import open_budget_store


def make(url: str, limits: dict[str, str], account: str = "", **kwargs: float) -> RateBudget:
    account = account or f"test-{uuid.uuid4().hex[:8]}"
    return RateBudget(open_budget_store(url), account, parse_rate_limits(limits), **kwargs)


def test_a_lost_script_and_a_dropped_connection_cost_no_grant(qmtl_redis_url: str) -> None:
    """After ``SCRIPT FLUSH`` and ``CLIENT KILL`` (what a Redis restart does to a
    client) acquires go on, and each is counted exactly once."""
    budget = make(qmtl_redis_url, {"orders": "3/1d"}, max_wait=0)
    admin = redis.Redis.from_url(qmtl_redis_url)
    budget.acquire({"orders": 1})
    admin.script_flush()
    budget.acquire({"orders": 1})
    assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
    budget.acquire({"orders": 1})
    with pytest.raises(RateLimited) as info:
        budget.acquire({"orders": 1})
    assert info.value.pool == "orders"
    assert budget.used("orders") == 1.0
    admin.close()
    budget.close()


def test_threads_sharing_one_store_each_get_their_own_answer(qmtl_redis_url: str) -> None:
    """Eight threads take and read at once through one store: exactly the limit is
    granted, every refusal names its pool, and no thread reads another's reply."""
    budget = make(qmtl_redis_url, {"orders": "200/1d"}, max_wait=0)

    def hammer(_: int) -> tuple[int, list[str | None]]:
        granted, refused = 0, []
        for _ in range(50):
            try:
                budget.acquire({"orders": 1})
                granted += 1
            except RateLimited as exc:
                refused.append(exc.pool)
            assert 0.0 <= budget.used("orders") <= 1.0
        return granted, refused

    with ThreadPoolExecutor(8) as threads:
        outcomes = list(threads.map(hammer, range(8)))
    assert sum(granted for granted, _ in outcomes) == 200
    assert [pool for _, refused in outcomes for pool in refused] == ["orders"] * 200
    assert budget.used("orders") == 1.0
    budget.close()


def _acquire_and_read(budget: RateBudget, started: Event, count: Synchronized[int]) -> None:
    """Acquire and read (two kinds of reply) for half a second; count the grants."""
    started.set()
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        budget.acquire({"orders": 1})
        count.value += 1
        assert 0.0 < budget.used("orders") < 1.0


def test_a_forked_child_never_shares_the_parents_connection(qmtl_redis_url: str) -> None:
    """A process forked with an open budget acquires on its own connection while the
    parent goes on with its own: every grant counted once, nobody reads a stray reply."""
    budget = make(qmtl_redis_url, {"orders": "1000000/1d"}, max_wait=0)
    budget.acquire({"orders": 1})  # the parent now holds a connection
    fork = multiprocessing.get_context("fork")
    started, theirs, ours = fork.Event(), fork.Value("i", 0), fork.Value("i", 1)
    child = fork.Process(target=_acquire_and_read, args=(budget, started, theirs))
    child.start()
    assert started.wait(timeout=30)
    _acquire_and_read(budget, fork.Event(), ours)
    child.join(timeout=60)
    assert child.exitcode == 0 and theirs.value > 0
    assert budget.used("orders") * 1_000_000 == pytest.approx(theirs.value + ours.value)
    budget.close()
