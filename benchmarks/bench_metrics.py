"""Cost of the metrics observer on an order round trip, against baselines in the same run.

Starts the reference broker on 127.0.0.1 and posts market orders through
HttpBrokerageClient in three modes, interleaved in rounds (the order of the modes
rotates each round) so that machine noise hits all alike:

- ``none``: no observer at all (the built-in logging observer unregistered too)
- ``off``: the default process, metrics off (only the built-in logging observer)
- ``on``: ``enable_metrics()`` serving on a loopback port

Prints the mean per order, the ratios off/none and on/off, and the observer's own
cost per order (its hooks called directly). Aims: metrics on costs < 5 % over off;
metrics off costs nothing measurable over none (< 2 %, the noise floor of this
loop). Exit 1 when an aim is missed or an order is lost.

    .venv/bin/python benchmarks/bench_metrics.py [--orders 3000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from qmtl_core import HttpBrokerageClient, OrderStatus, enable_metrics
from qmtl_core.events import OrderEvent
from qmtl_core.registry import default_registry
from qmtl_plugin_http.server import BrokerServer

SYMBOL = "BTC/USDT"
ROUNDS = 30
WARMUP = 100
#: Orders each mode sends untimed at the start of every round: ``on`` starts a fresh
#: observer each round, whose first order of each label creates its metric children
#: (a one-time cost of a process, not a per-order one).
SETTLE = 10
AIM_ON = 1.05
AIM_OFF = 1.02
LOGGING_OBSERVER = "qmtl-core.logging"


@contextmanager
def no_observer() -> Iterator[None]:
    """Unregister the built-in logging observer for the block: no hook implementation."""
    manager = default_registry().plugin_manager
    observer = manager.unregister(name=LOGGING_OBSERVER)
    try:
        yield
    finally:
        manager.register(observer, name=LOGGING_OBSERVER)


@contextmanager
def metrics_on() -> Iterator[None]:
    with enable_metrics(port=0):
        yield


MODES: dict[str, Callable[[], AbstractContextManager[Any]]] = {
    "none": no_observer,
    "off": nullcontext,
    "on": metrics_on,
}


def post(client: HttpBrokerageClient, count: int) -> float:
    order = {"symbol": SYMBOL, "side": "BUY", "type": "market", "quantity": "0.01"}
    start = time.perf_counter()
    for _ in range(count):
        if client.post_order(order).status is not OrderStatus.FILLED:
            raise SystemExit("an order was not filled")
    return time.perf_counter() - start


def observer_cost(count: int = 20_000) -> float:
    """Seconds per order of the observer alone: the events of one order, fed directly."""
    with enable_metrics(serve=False) as metrics:
        observer = metrics.observer
        events = [
            OrderEvent("validated", "HttpBrokerageClient", "c"),
            OrderEvent("sent", "HttpBrokerageClient", "c", {"attempt": 1}),
            OrderEvent("acknowledged", "HttpBrokerageClient", "c", {"latency": 0.0004}),
        ]
        start = time.perf_counter()
        for _ in range(count):
            for event in events:
                observer.qmtl_order_event(event)
        return (time.perf_counter() - start) / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000, help="orders per mode (>= ROUNDS)")
    args = parser.parse_args(argv)
    per_round = max(1, args.orders // ROUNDS)
    spent = dict.fromkeys(MODES, 0.0)
    rounds: list[dict[str, float]] = []
    with BrokerServer(prices={SYMBOL: 50000}) as server:
        with HttpBrokerageClient(server.url, max_retries=3, backoff=0.1) as client:
            for mode in MODES.values():
                with mode():
                    post(client, WARMUP)
            names = list(MODES)
            for r in range(ROUNDS):
                took = {}
                for name in names[r % 3 :] + names[: r % 3]:
                    with MODES[name]():
                        post(client, SETTLE)  # a fresh observer's first samples, untimed
                        took[name] = post(client, per_round)
                    spent[name] += took[name]
                rounds.append(took)
        held = server.order_count
    total = per_round * ROUNDS
    expected = (total + WARMUP + SETTLE * ROUNDS) * len(MODES)
    if held != expected:
        print(f"ERROR: the broker holds {held} orders, expected {expected}")
        return 1
    print(f"reference broker on 127.0.0.1, {total} orders per mode, {ROUNDS} rotating rounds")
    for name, seconds in spent.items():
        print(f"  {name:<5} mean {seconds / total * 1e6:7.1f} us/order")
    # The median of the per-round ratios: a noisy neighbour spoils a round, not the result.
    off_ratio = statistics.median(t["off"] / t["none"] for t in rounds)
    on_ratio = statistics.median(t["on"] / t["off"] for t in rounds)
    print(f"ratio off/none: {off_ratio:.3f} (median of {ROUNDS} rounds; aim <= {AIM_OFF:.2f})")
    print(f"ratio on/off:   {on_ratio:.3f} (median of {ROUNDS} rounds; aim <= {AIM_ON:.2f})")
    cost = observer_cost()
    share = cost / (spent["off"] / total)
    print(f"the metrics observer alone: {cost * 1e6:.2f} us/order ({share:.1%} of a round trip)")
    missed = []
    if on_ratio > AIM_ON:
        missed.append(f"metrics on costs {on_ratio - 1:.1%} (aim < {AIM_ON - 1:.0%})")
    if off_ratio > AIM_OFF:
        missed.append(f"metrics off costs {off_ratio - 1:.1%} (aim < {AIM_OFF - 1:.0%})")
    for line in missed:
        print(f"MISSED: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
