"""RateBudget.acquire against a bare Redis round trip, and N processes against one limit.

1. Cost of one ``acquire`` (memory, SQLite, Redis) next to one ``PING`` (and one
   ``INCR``, the cheapest write) to the same real redis-server, interleaved in rounds
   so machine noise hits all alike. Aim: a Redis acquire costs at most 1.5 PINGs (it
   is one script call: one round trip).
2. N hammer processes (``qmtl_plugin_http.hammer``) share one account through Redis,
   then through SQLite, against the reference broker enforcing ``orders=LIMIT/1s``.
   Aim: zero 429s and an aggregate rate of at least 0.95 of the limit. The processes'
   order events are summed by kind (budget waits are ``rate_limited``); a rejected,
   unknown or failed order misses the aim.

Exit status is non-zero when an aim is missed.

    .venv/bin/python benchmarks/bench_rate_budget.py --processes 4 --limit 50 --seconds 4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable

from qmtl_core.rate_limits import Limit
from qmtl_core.rate_stores import open_rate_budget
from qmtl_core.state import open_redis, parse_state_url
from qmtl_core.testing.redis_server import RedisServer
from qmtl_plugin_http.hammer import results, spawn, start_together
from qmtl_plugin_http.server import BrokerServer

ACQUIRE_AIM = 1.5
AGGREGATE_AIM = 0.95
ROUNDS = 50
#: Order events that mean an order went wrong (a budget wait, ``rate_limited``, is routine).
BAD_EVENTS = ("rejected", "unknown", "failed")
HUGE = {"orders": Limit(10**12, 86400)}  # never binding: measure the step, not waits


def per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def acquire_costs(redis_url: str, sqlite_url: str, calls: int) -> dict[str, float]:
    """Median seconds per call of each operation over interleaved rounds."""
    ping = open_redis(parse_state_url(redis_url))
    budgets = {
        name: open_rate_budget(url, f"bench-{name}", dict(HUGE))
        for name, url in (("memory", "memory://"), ("sqlite", sqlite_url), ("redis", redis_url))
    }
    ops: dict[str, Callable[[], object]] = {
        "redis PING": ping.ping,
        "redis INCR": lambda: ping.incr("bench-incr"),
    }
    for name, budget in budgets.items():
        ops[f"{name} acquire"] = lambda b=budget: b.acquire({"orders": 1})
    samples: dict[str, list[float]] = {op: [] for op in ops}
    for _ in range(ROUNDS):
        for op, fn in ops.items():
            samples[op].append(per_call(fn, calls // ROUNDS))
    for budget in budgets.values():
        budget.close()
    ping.close()
    return {op: statistics.median(values) for op, values in samples.items()}


def aggregate(
    state: str, processes: int, limit: int, seconds: int
) -> tuple[float, int, Counter[str]]:
    """(orders admitted per second / limit, 429s, order events by kind) for N processes
    hammering one account."""
    with BrokerServer(prices={"BTC/USDT": 50000}, rate_limits={"orders": Limit(limit, 1)}) as srv:
        tags = [f"b{i}" for i in range(processes)]
        workers = spawn(srv.url, state, "bench", tags, [f"orders={limit}/1s"])
        start = start_together(workers, seconds)
        events: Counter[str] = Counter()
        for summary in results(workers, timeout=seconds + 30):
            events.update(summary["events"])
        admitted = sum(srv.limiter.admitted[("orders", start + k)] for k in range(seconds))
        return admitted / seconds / limit, srv.limiter.refused, events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls per operation")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--limit", type=int, default=50, help="orders per second")
    parser.add_argument("--seconds", type=int, default=4, help="windows hammered")
    parser.add_argument(
        "--journal-redis",
        action="store_true",
        help="measure on a Redis with appendfsync always (the journal's settings)",
    )
    args = parser.parse_args()
    failed = []
    # The budget needs no durability (its windows last seconds): the server runs without
    # the journal's fsync-per-write AOF, which would make any write, INCR included, cost
    # an fsync. ``--journal-redis`` measures on the journal's settings instead.
    extra = () if args.journal_redis else ("--appendonly", "no")
    with RedisServer(*extra) as redis_server, tempfile.TemporaryDirectory() as folder:
        sqlite_url = f"sqlite:///{folder}/bench.db"
        costs = acquire_costs(redis_server.url, sqlite_url, args.calls)
        ping = costs["redis PING"]
        print(f"{'operation':<16} {'us/call':>9} {'x PING':>8}")
        for op, seconds in costs.items():
            print(f"{op:<16} {seconds * 1e6:9.1f} {seconds / ping:8.2f}")
        redis_ratio = costs["redis acquire"] / ping
        if redis_ratio > ACQUIRE_AIM:
            failed.append(f"redis acquire = {redis_ratio:.2f} PINGs > {ACQUIRE_AIM}")
        for name, state in (("redis", redis_server.url), ("sqlite", f"sqlite:///{folder}/agg.db")):
            fraction, refused, events = aggregate(state, args.processes, args.limit, args.seconds)
            print(
                f"{name}: {args.processes} processes, limit {args.limit}/1s over "
                f"{args.seconds} windows: {fraction:.3f} of the limit, {refused} x 429; "
                f"order events: {', '.join(f'{k} {n}' for k, n in sorted(events.items()))}"
            )
            if fraction < AGGREGATE_AIM or refused:
                failed.append(
                    f"{name} aggregate {fraction:.3f} (aim {AGGREGATE_AIM}), {refused} 429s"
                )
            if bad := {k: n for k, n in events.items() if k in BAD_EVENTS}:
                failed.append(f"{name}: orders went wrong: {bad}")
    for failure in failed:
        print(f"AIM MISSED: {failure}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
