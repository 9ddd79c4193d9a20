"""One client shared by many threads: every order placed exactly once, faults or not."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from qmtl_core import OrderStatus
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.server import BrokerServer

from .conftest import market

THREADS = 8
PER_THREAD = 25


def test_shared_client_places_each_order_once(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    broker.faults.fail_next(10, 500, method="POST", accept=True)
    broker.faults.reset_next(5, method="POST")
    ids = [f"t{n}" for n in range(THREADS * PER_THREAD)]
    with ThreadPoolExecutor(THREADS) as pool:
        acks = list(pool.map(lambda coid: client.post_order(market(client_order_id=coid)), ids))
    assert [ack.client_order_id for ack in acks] == ids
    assert all(ack.status is OrderStatus.FILLED for ack in acks)
    assert len({ack.id for ack in acks}) == len(ids)
    assert broker.order_count == len(ids)
    assert broker.faults.pending() == 0
