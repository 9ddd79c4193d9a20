"""Several real processes share one account's budget against a broker enforcing the limit."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qmtl_core.errors import RateLimited
from qmtl_core.rate_limits import Limit
from qmtl_core.testing import wait_until
from qmtl_core.testing.events import EventRecorder
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.hammer import results, spawn, start_together
from qmtl_plugin_http.server import BrokerServer

from .conftest import PRICE, SYMBOL, market

LIMIT = 20
WINDOWS = 3
PROCESSES = 4


@pytest.fixture
def limited_broker() -> Iterator[BrokerServer]:
    with BrokerServer(prices={SYMBOL: PRICE}, rate_limits={"orders": Limit(LIMIT, 1)}) as server:
        yield server


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_processes_sharing_a_budget_spend_it_exactly_and_survive_a_sigkill(
    backend: str, limited_broker: BrokerServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    state = (
        f"sqlite:///{tmp_path}/state.db"
        if backend == "sqlite"
        else request.getfixturevalue("qmtl_redis_url")
    )
    tags = [f"p{i}" for i in range(PROCESSES)]
    workers = spawn(limited_broker.url, state, "main", tags, [f"orders={LIMIT}/1s"])
    victim = workers[0]
    try:
        start = start_together(workers, WINDOWS)
        # Kill one process mid-run, while it waits for (or has just been granted) budget.
        wait_until(lambda: time.time() > start + 1.3, timeout=10, what="the second window")
        victim.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        outputs = results(workers[1:], timeout=30)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    assert victim.returncode == -signal.SIGKILL
    assert limited_broker.limiter.refused == 0  # no process was ever told 429
    per_window = [limited_broker.limiter.admitted[("orders", start + k)] for k in range(WINDOWS)]
    # Every window spent in full (no overrun: the broker would have refused the rest).
    assert per_window == [LIMIT] * WINDOWS
    assert sum(o["limited"] for o in outputs) == 0
    # The survivors went on at the full rate after the kill: nothing was wedged.
    late = [r for r in limited_broker.seen("POST") if r.idempotency_key and
            not r.idempotency_key.startswith("p0-")]  # fmt: skip
    after_kill = sum(1 for r in late if r.at > killed_at)
    assert after_kill >= LIMIT


def test_a_429_blocks_every_client_of_the_account_and_the_order_is_retried_once(
    broker: BrokerServer, qmtl_events: EventRecorder
) -> None:
    """No rate_limits configured: the venue's Retry-After alone holds back the account."""
    account = f"acct-{time.monotonic_ns()}"
    first = HttpBrokerageClient(broker.url, max_retries=3, backoff=0.01, account=account)
    second = HttpBrokerageClient(broker.url, max_retries=0, account=account)
    broker.faults.rate_limit_next(1, retry_after=1.0)
    started = time.monotonic()
    ack = first.post_order(market(client_order_id="blocked-1"))
    assert time.monotonic() - started >= 0.9
    assert broker.order_count == 1 and ack.client_order_id == "blocked-1"
    broker.faults.rate_limit_next(1, retry_after=1.0)
    with pytest.raises(RateLimited):
        second.post_order(market(client_order_id="blocked-2"))
    sent_before = len(broker.seen("POST"))
    started = time.monotonic()
    first.post_order(market(client_order_id="blocked-3"))  # waits out the other's block
    assert time.monotonic() - started >= 0.8
    assert len(broker.seen("POST")) == sent_before + 1  # nothing was sent while blocked
    waits = [e for e in qmtl_events.events if e.kind == "rate_limited"]
    assert waits and waits[-1].data["pool"] == "blocked" and waits[-1].data["seconds"] > 0.5
    first.close()
    second.close()


def test_a_budget_refusal_is_rate_limited_and_nothing_is_sent(broker: BrokerServer) -> None:
    client = HttpBrokerageClient(
        broker.url,
        rate_limits={"orders": "2/1d"},
        account=f"acct-{time.monotonic_ns()}",
        rate_limit_max_wait=0.2,
    )
    client.post_order(market())
    client.post_order(market())
    with pytest.raises(RateLimited) as info:
        client.post_order(market(client_order_id="over-budget"))
    assert info.value.pool == "orders" and info.value.needed is not None
    assert info.value.needed > 0.2
    assert [r.idempotency_key for r in broker.seen("POST")].count("over-budget") == 0
    # Polling costs only 'requests', which has no limit here.
    client.poll_order_status(broker.orders()[0].client_order_id)
    client.close()


def test_the_reference_server_answers_429_over_its_limit(limited_broker: BrokerServer) -> None:
    client = HttpBrokerageClient(limited_broker.url, max_retries=0)
    with pytest.raises(RateLimited) as info:
        for _ in range(3 * LIMIT):
            client.post_order(market())
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 1
    assert limited_broker.limiter.refused == 1
    client.close()
