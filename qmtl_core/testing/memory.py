"""Retained memory per order, for long-run tests: does state stop growing after a cap?

A week-long process sends hundreds of thousands of orders; every in-memory cache must
let completed orders go (``runtime.MAX_COMPLETED_ORDERS``). This measures what each
further order leaves behind once the caches are full.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable


def retained_bytes_per_order(send: Callable[[int], object], *, cap: int, orders: int) -> float:
    """Bytes still allocated per order after ``orders`` more orders, caches already full.

    ``send(i)`` sends order number ``i``. The caches are first filled (``2 * cap``
    orders, half of them traced, so every cached order is a traced one), then the
    traced total is read before and after ``orders`` more: a bounded client retains
    about nothing per order, an unbounded one its whole order state.
    """
    sent = 0

    def run(count: int) -> None:
        nonlocal sent
        for _ in range(count):
            send(sent)
            sent += 1

    run(cap)
    gc.collect()
    tracemalloc.start()
    try:
        run(cap + 100)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        run(orders)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / orders
