"""The order journal's cost per order, in units measured in the same run.

Posts orders through ``HttpBrokerageClient`` to the reference broker on 127.0.0.1 with
no journal, a SQLite journal and a Redis journal (a real redis-server with
``appendfsync always``), interleaved in rounds so machine noise hits all alike. In the
same run it measures the bare cost of one durable SQLite commit (``BEGIN IMMEDIATE``,
one INSERT, ``COMMIT`` with ``synchronous=FULL`` in WAL) and of one Redis round trip.

The Redis unit is a ``SET`` to the same server, which runs with the journal's
persistence (``appendfsync always``): every write, the journal's and the unit's, is
fsynced before Redis answers, so a write round trip is what the journal cannot do with
less. A ``PING`` (no write, no fsync) is printed too, with the ratio against it, to
show how much of the cost is the disk's.

Figures are medians over interleaved rounds of the cost per order; every loop is
warmed up until its SQLite WAL has wrapped (a growing file makes each fsync also
commit file-system metadata, which a long-running journal does not pay).

Aims: journal overhead per order <= 1.5 durable commits (SQLite) and <= 2 round trips
(Redis). Exits non-zero when an aim is missed or the broker holds the wrong number of
orders.

    .venv/bin/python benchmarks/bench_journal.py --orders 600
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from qmtl_core import HttpBrokerageClient, OrderStatus, open_journal
from qmtl_core.state import open_redis, open_sqlite, parse_state_url
from qmtl_core.testing.redis_server import RedisServer
from qmtl_plugin_http.server import BrokerServer

SYMBOL = "BTC/USDT"
ROUNDS = 10
#: Orders (or units) per loop before measuring: enough for the WAL to wrap (a
#: checkpoint every 1000 pages, a few pages per order).
WARMUP = 400
SQLITE_AIM = 1.5
REDIS_AIM = 2.0


def orders(tag: str, count: int) -> list[dict[str, str]]:
    return [
        {"symbol": SYMBOL, "side": "BUY", "type": "market", "quantity": "0.01",
         "client_order_id": f"{tag}{i:07d}"}
        for i in range(count)
    ]  # fmt: skip


def post_all(client: HttpBrokerageClient) -> Callable[[list[dict[str, str]]], None]:
    def run(batch: list[dict[str, str]]) -> None:
        for payload in batch:
            if client.post_order(payload).status is not OrderStatus.FILLED:
                raise SystemExit(f"order {payload['client_order_id']} not filled")

    return run


def bare_commits(folder: Path) -> Callable[[list[dict[str, str]]], None]:
    """One bare durable SQLite write transaction per item: the SQLite unit."""
    conn = open_sqlite(folder / "bare.db")  # makes the folder
    conn.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT)")

    def run(batch: list[dict[str, str]]) -> None:
        for payload in batch:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t VALUES (?, ?)", (payload["client_order_id"], "x" * 200))
            conn.execute("COMMIT")

    return run


def each_after(
    first: Callable[[list[dict[str, str]]], None], then: Callable[[list[dict[str, str]]], None]
) -> Callable[[list[dict[str, str]]], None]:
    """``first`` then ``then`` for each item in turn."""

    def run(batch: list[dict[str, str]]) -> None:
        for payload in batch:
            first([payload])
            then([payload])

    return run


def bare_round_trips(url: str, command: str) -> Callable[[list[dict[str, str]]], None]:
    """One bare Redis round trip per item (a persisted ``SET``, or a ``PING``)."""
    client = open_redis(parse_state_url(url))

    def run(batch: list[dict[str, str]]) -> None:
        for payload in batch:
            if command == "SET":
                client.set(payload["client_order_id"], "x" * 200)
            else:
                client.ping()

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=600, help="orders per loop (>= 10)")
    args = parser.parse_args(argv)
    n = args.orders
    if n < 10:
        parser.error("--orders must be >= 10")
    with (
        tempfile.TemporaryDirectory(prefix="qmtl-bench-journal-") as tmp,
        RedisServer() as redis_server,
        BrokerServer(prices={SYMBOL: 50000}) as broker,
    ):
        folder = Path(tmp)
        sqlite_journal = open_journal(f"sqlite:///{folder}/journal.db")
        redis_journal = open_journal(redis_server.url)
        loops = {
            "none": HttpBrokerageClient(broker.url),
            "sqlite": HttpBrokerageClient(broker.url, journal=sqlite_journal),
            "redis": HttpBrokerageClient(broker.url, journal=redis_journal),
        }
        runs = {name: post_all(client) for name, client in loops.items()}
        # The units run in the same rounds as the orders, so disk and CPU noise hit both.
        runs["commit"] = bare_commits(folder)
        # Orders without a journal, each after one bare durable commit: what the order
        # path costs with a disk wait in it, so the journal's own work shows apart.
        runs["commit-none"] = each_after(bare_commits(folder / "in-place"), runs["none"])
        runs["set"] = bare_round_trips(redis_server.url, "SET")
        runs["ping"] = bare_round_trips(redis_server.url, "PING")
        # The same for Redis: orders each after one bare persisted round trip.
        runs["set-none"] = each_after(bare_round_trips(redis_server.url, "SET"), runs["none"])
        for name, run in runs.items():
            run(orders(f"warm-{name}-", WARMUP))
        batches = {name: orders(f"{name}-", n) for name in runs}
        samples: dict[str, list[float]] = {name: [] for name in runs}
        names = list(runs)
        for r in range(ROUNDS):
            lo, hi = n * r // ROUNDS, n * (r + 1) // ROUNDS
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:  # rotate who goes first
                start = time.perf_counter()
                runs[name](batches[name][lo:hi])
                samples[name].append((time.perf_counter() - start) / (hi - lo))
        held = broker.order_count
        for client in loops.values():
            client.close()
        sqlite_journal.close()
        redis_journal.close()

    per = {name: statistics.median(values) for name, values in samples.items()}
    commit, set_rt, ping_rt = per["commit"], per["set"], per["ping"]
    print(f"reference broker on 127.0.0.1, {n} orders per loop, {ROUNDS} interleaved rounds")
    for name in loops:
        print(f"  journal={name:<7} median {per[name] * 1e6:8.1f} us/order")
    print(f"bare durable SQLite commit:             {commit * 1e6:8.1f} us")
    print(f"bare Redis round trip, persisted (SET): {set_rt * 1e6:8.1f} us")
    print(f"bare Redis round trip, no write (PING): {ping_rt * 1e6:8.1f} us")
    sqlite_ratio = (per["sqlite"] - per["none"]) / commit
    redis_ratio = (per["redis"] - per["none"]) / set_rt
    redis_pings = (per["redis"] - per["none"]) / ping_rt
    in_place = (per["sqlite"] - per["commit-none"]) / commit
    print(
        f"sqlite journal overhead: {sqlite_ratio:.2f} durable commits/order (aim <= {SQLITE_AIM})"
    )
    print(
        f"  of which beyond one durable commit in the order path: {in_place:.2f} commits "
        f"(orders after a bare commit: {per['commit-none'] * 1e6:.1f} us/order)"
    )
    print(
        f"redis journal overhead:  {redis_ratio:.2f} persisted round trips/order "
        f"(aim <= {REDIS_AIM}); {redis_pings:.1f} PINGs"
    )
    print(
        f"  of which beyond one persisted round trip in the order path: "
        f"{(per['redis'] - per['set-none']) / set_rt:.2f} round trips "
        f"(orders after a bare SET: {per['set-none'] * 1e6:.1f} us/order)"
    )
    failed = False
    expected = 5 * (n + WARMUP)  # none, sqlite, redis, commit-none, set-none
    if held != expected:
        print(f"ERROR: the broker holds {held} orders, expected {expected}", file=sys.stderr)
        failed = True
    if sqlite_ratio > SQLITE_AIM:
        print("FAILED: the SQLite journal misses its aim", file=sys.stderr)
        failed = True
    if redis_ratio > REDIS_AIM:
        print("FAILED: the Redis journal misses its aim", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
