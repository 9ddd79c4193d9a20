"""A week-long run stays bounded: completed orders leave memory after a cap.

The rule (``runtime.MAX_COMPLETED_ORDERS``, docs/state.md): each client, paper engine
and in-memory journal keeps at most that many completed orders; what must survive a
restart lives in the journal's store.
"""

from __future__ import annotations

import pytest

from qmtl_core import runtime
from qmtl_core.runner import Runner
from qmtl_core.testing.memory import retained_bytes_per_order
from qmtl_plugin_fake.brokerage import FakeBrokerageClient

CAP = 200
#: What an order may leave behind once caches are full (allocator and dict noise);
#: without the cap each order keeps about 700 bytes.
MAX_BYTES_PER_ORDER = 16


def market(i: int) -> dict[str, object]:
    return {
        "symbol": "BTC/USDT",
        "side": "BUY",
        "type": "market",
        "quantity": "0.01",
        "client_order_id": f"long-run-{i}",
    }


@pytest.fixture(autouse=True)
def small_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "MAX_COMPLETED_ORDERS", CAP)


def test_the_fake_broker_stays_bounded() -> None:
    broker = FakeBrokerageClient(prices={"BTC/USDT": 50000})
    per_order = retained_bytes_per_order(
        lambda i: broker.post_order(market(i)), cap=CAP, orders=5_000
    )
    assert per_order < MAX_BYTES_PER_ORDER
    assert len(broker.engine.orders()) <= CAP


def test_the_runner_and_its_journal_stay_bounded() -> None:
    Runner.reset()
    Runner.set_trade_execution_service(FakeBrokerageClient(prices={"BTC/USDT": 50000}))
    try:
        per_order = retained_bytes_per_order(
            lambda i: Runner.submit_order(market(i)), cap=CAP, orders=2_000
        )
    finally:
        Runner.reset()
    assert per_order < MAX_BYTES_PER_ORDER
