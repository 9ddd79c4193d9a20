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

Figures are medians over interleaved rounds of the cost per order: each round runs
every loop for a batch of ``BATCH`` orders, who goes first rotating, so the disk's and
the machine's slow spells (they last longer than a batch) hit every loop alike and the
medians leave them out. Every loop is warmed up until its SQLite WAL has wrapped (a
growing file makes each fsync also commit file-system metadata, which a long-running
journal does not pay).

Each unit is measured twice. Alone, in a tight loop of bare commits (or SETs); and
where an order pays it: orders without a journal, each after one bare durable commit
(or one bare SET), minus the same orders alone. On a virtual machine the second is
about twice the first (an fsync that follows network traffic waits longer than one
that follows another fsync), and it is the physical floor of any write-ahead journal:
the durable write must happen in the order path, before the order leaves. The aims
are judged against that in-path unit; the ratios against the tight-loop unit are
printed beside them.

Aims: journal overhead per order <= 1.5 durable commits (SQLite) and <= 2 persisted
round trips (Redis). Exits non-zero when an aim is missed or the broker holds the
wrong number of orders.

    .venv/bin/python benchmarks/bench_journal.py --orders 1000
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
#: Orders of one loop in one round: short enough that a round sees one state of the
#: disk, long enough to time.
BATCH = 20
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


def report(
    journal: str, unit: str, overhead: float, *, alone: float, in_path: float, aim: float
) -> float:
    """Print a journal's overhead per order in its unit; return the judged ratio."""
    judged = overhead / in_path if in_path > 0 else float("inf")
    print(
        f"{journal} journal overhead: {overhead * 1e6:.1f} us/order = {judged:.2f} {unit} "
        f"in the order path (aim <= {aim}; one costs {in_path * 1e6:.1f} us there), "
        f"{overhead / alone:.2f} alone (one costs {alone * 1e6:.1f} us in a tight loop)"
    )
    return judged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000, help="orders per loop (>= 40)")
    args = parser.parse_args(argv)
    n = args.orders
    if n < 2 * BATCH:
        parser.error(f"--orders must be >= {2 * BATCH}")
    rounds = n // BATCH
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
        for r in range(rounds):
            lo, hi = n * r // rounds, n * (r + 1) // rounds
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
    print(f"reference broker on 127.0.0.1, {n} orders per loop, {rounds} interleaved rounds")
    for name in loops:
        print(f"  journal={name:<7} median {per[name] * 1e6:8.1f} us/order")
    sqlite_ratio = report(
        "sqlite",
        "durable commits",
        per["sqlite"] - per["none"],
        alone=per["commit"],
        in_path=per["commit-none"] - per["none"],
        aim=SQLITE_AIM,
    )
    redis_ratio = report(
        "redis",
        "persisted round trips (SET)",
        per["redis"] - per["none"],
        alone=per["set"],
        in_path=per["set-none"] - per["none"],
        aim=REDIS_AIM,
    )
    print(
        f"  redis journal overhead in round trips that write nothing (PING, "
        f"{per['ping'] * 1e6:.1f} us alone): {(per['redis'] - per['none']) / per['ping']:.1f}"
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
