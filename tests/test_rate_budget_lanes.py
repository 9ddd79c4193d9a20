"""The memory store's lanes (its shortcut for steps well inside every pool's window)
decide exactly what the shared algorithm decides: edges, refusals, rolled-over windows,
blocks and threads, on a clock the test moves."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from qmtl_core import rate_stores
from qmtl_core.rate_budget import BLOCKED, Charge, Take
from qmtl_core.rate_limits import Limit
from qmtl_core.rate_stores import MemoryStore, SqliteStore

ACCOUNT = "acct"
MARGIN = 1.0
ORDERS = Limit(3, 10)  # windows [100, 110), [110, 120) ...
WEIGHT = Limit(20, 60)  # window [60, 120)


class Clock:
    """The stores' ``time.time()`` in these tests: venue time is what the test sets."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 100.0
        monkeypatch.setattr(rate_stores, "time", SimpleNamespace(time=lambda: self.now))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def take_at(store: MemoryStore, clock: Clock, t: float, charges: list[Charge]) -> Take:
    clock.now = t
    return store.take(ACCOUNT, charges, MARGIN, 0.0)


def used_at(store: MemoryStore, clock: Clock, t: float, pool: str, limit: Limit) -> float:
    clock.now = t
    return store.used(ACCOUNT, pool, limit, 0.0)


def test_a_take_near_an_edge_still_charges_both_windows(clock: Clock) -> None:
    store, orders = MemoryStore(), [("orders", 1, ORDERS)]
    assert take_at(store, clock, 103, orders).granted
    assert take_at(store, clock, 104, orders).granted  # through the lane
    assert take_at(store, clock, 109.5, orders).granted  # within the margin of 110
    assert used_at(store, clock, 109.6, "orders", ORDERS) == 3
    assert used_at(store, clock, 111.5, "orders", ORDERS) == 1  # the next window too
    assert take_at(store, clock, 111.5, [("orders", 2, ORDERS)]).granted
    refused = take_at(store, clock, 112, orders)
    assert (refused.granted, refused.pool) == (False, "orders")
    assert refused.wait == pytest.approx(120 + MARGIN - 112)


def test_a_lane_refusal_takes_nothing_and_says_how_long(clock: Clock) -> None:
    store = MemoryStore()
    both: list[Charge] = [("weight", 5, WEIGHT), ("orders", 1, ORDERS)]
    for t in (102, 103, 104):
        assert take_at(store, clock, t, both).granted
    refused = take_at(store, clock, 105, both)  # orders is full, weight is not
    assert (refused.granted, refused.pool) == (False, "orders")
    assert refused.wait == pytest.approx(110 + MARGIN - 105)
    assert used_at(store, clock, 105, "weight", WEIGHT) == 15  # all or nothing
    assert take_at(store, clock, 106, [("weight", 5, WEIGHT)]).granted
    assert not take_at(store, clock, 107, [("weight", 1, WEIGHT)]).granted


def test_after_the_window_rolls_over_its_counters_are_not_reused(clock: Clock) -> None:
    store, orders = MemoryStore(), [("orders", 1, ORDERS)]
    for t in (102, 103, 104):
        assert take_at(store, clock, t, orders).granted
    assert not take_at(store, clock, 105, orders).granted
    assert take_at(store, clock, 113, orders).granted  # a fresh window
    assert used_at(store, clock, 113, "orders", ORDERS) == 1
    assert take_at(store, clock, 114, orders).granted
    assert used_at(store, clock, 114, "orders", ORDERS) == 2
    assert take_at(store, clock, 135, orders).granted  # old counters expired meanwhile
    assert used_at(store, clock, 135, "orders", ORDERS) == 1
    # The clock going back out of a lane's span takes the shared way, never the lane.
    assert take_at(store, clock, 125, orders).granted
    assert used_at(store, clock, 125, "orders", ORDERS) == 1


def test_a_block_refuses_a_take_that_had_a_lane(clock: Clock) -> None:
    store, orders = MemoryStore(), [("orders", 1, ORDERS)]
    assert take_at(store, clock, 102, orders).granted
    assert take_at(store, clock, 103, orders).granted
    clock.now = 103.5
    store.block(ACCOUNT, 2.0, 0.0)
    refused = take_at(store, clock, 104, orders)
    assert (refused.granted, refused.pool) == (False, BLOCKED)
    assert refused.wait == pytest.approx(1.5)
    assert take_at(store, clock, 105.6, orders).granted
    assert not take_at(store, clock, 106, orders).granted


def test_reports_raise_the_lane_counters_and_respect_the_window(clock: Clock) -> None:
    store, orders = MemoryStore(), [("orders", 1, ORDERS)]
    assert take_at(store, clock, 102, orders).granted
    clock.now = 103
    store.observe(ACCOUNT, [("orders", ORDERS, 1)], MARGIN, 0.0)  # never lowers
    clock.now = 104
    store.observe(ACCOUNT, [("orders", ORDERS, 2)], MARGIN, 0.0)  # through the lane
    assert used_at(store, clock, 104, "orders", ORDERS) == 2
    assert take_at(store, clock, 105, orders).granted
    assert not take_at(store, clock, 106, orders).granted
    clock.now = 110.5  # the venue may still be counting the last window: ignored
    store.observe(ACCOUNT, [("orders", ORDERS, 3)], MARGIN, 0.0)
    assert used_at(store, clock, 111.5, "orders", ORDERS) == 0
    clock.now = 112
    store.observe(ACCOUNT, [("orders", ORDERS, 2)], MARGIN, 0.0)
    assert take_at(store, clock, 113, orders).granted
    assert not take_at(store, clock, 114, orders).granted


def test_clear_forgets_the_lanes_too(clock: Clock) -> None:
    store, orders = MemoryStore(), [("orders", 3, ORDERS)]
    assert take_at(store, clock, 102, orders).granted
    store.clear()
    assert take_at(store, clock, 103, orders).granted
    assert used_at(store, clock, 103, "orders", ORDERS) == 3


def test_lanes_decide_what_the_shared_algorithm_decides(clock: Clock, tmp_path: Path) -> None:
    """A random run of takes, reports and blocks on the memory store and on SQLite (the
    shared algorithm, no lanes) under the same clock: the same answers throughout."""
    rng = random.Random(7)
    memory, sqlite = MemoryStore(), SqliteStore(tmp_path / "state.db")
    shapes: list[list[Charge]] = [
        [("orders", 1, ORDERS)],
        [("weight", 2, WEIGHT), ("orders", 1, ORDERS)],
        [("weight", 3, WEIGHT)],
    ]
    t = 100.0
    for _ in range(3000):
        t += rng.choice((0.05, 0.2, 0.7, 1.3))
        clock.now = t
        roll = rng.random()
        if roll < 0.8:
            charges = rng.choice(shapes)
            answers = [s.take(ACCOUNT, charges, MARGIN, 0.0) for s in (memory, sqlite)]
            assert answers[0].granted == answers[1].granted, t
            assert answers[0].pool == answers[1].pool, t
            assert answers[0].wait == pytest.approx(answers[1].wait), t
        elif roll < 0.98:
            pool, limit = rng.choice((("orders", ORDERS), ("weight", WEIGHT)))
            report = [(pool, limit, rng.randrange(limit.limit + 2))]
            for store in (memory, sqlite):
                store.observe(ACCOUNT, report, MARGIN, 0.0)
        else:
            for store in (memory, sqlite):
                store.block(ACCOUNT, 0.5, 0.0)
        for pool, limit in (("orders", ORDERS), ("weight", WEIGHT)):
            assert memory.used(ACCOUNT, pool, limit, 0.0) == sqlite.used(
                ACCOUNT, pool, limit, 0.0
            ), t
    sqlite.close()


@pytest.fixture
def switch_often() -> Iterator[None]:
    """Threads interleave between almost every take."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("switch_often")
def test_two_threads_never_grant_more_than_the_limit() -> None:
    store, limit = MemoryStore(), Limit(20000, 86400)
    charges: list[Charge] = [("orders", 1, limit)]
    granted = [0, 0]
    start = threading.Barrier(2)

    def spend(slot: int) -> None:
        start.wait()
        while store.take(ACCOUNT, charges, 0.1, 0.0).granted:
            granted[slot] += 1

    threads = [threading.Thread(target=spend, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 20000 and min(granted) > 0
    assert store.used(ACCOUNT, "orders", limit, 0.0) == 20000
