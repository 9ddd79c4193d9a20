"""Whatever sequence of faults the broker throws, one post_order is at most one order."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmtl_core import OrderStatusUnknown, TransientError
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.faults import Fault
from qmtl_plugin_http.server import BrokerServer

from .conftest import market

_ids = itertools.count()

faults = st.one_of(
    st.builds(
        Fault,
        kind=st.just("status"),
        method=st.sampled_from([None, "POST", "GET"]),
        accept=st.booleans(),
        status=st.sampled_from([500, 502, 503, 504]),
    ),
    st.builds(Fault, kind=st.just("status"), status=st.just(429), retry_after=st.just("0")),
    st.builds(
        Fault, kind=st.just("reset"), method=st.sampled_from([None, "POST"]), accept=st.booleans()
    ),
    st.builds(Fault, kind=st.just("malformed"), method=st.just("POST"), accept=st.just(True)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=st.lists(faults, max_size=5))
def test_no_fault_sequence_duplicates_an_order(plan: list[Fault]) -> None:
    with BrokerServer(prices={"BTC/USDT": 50000}) as broker:
        for fault in plan:
            broker.faults.add(fault)
        client = HttpBrokerageClient(broker.url, max_retries=3, backoff=0)
        coid = f"p{next(_ids)}"
        try:
            ack = client.post_order(market(client_order_id=coid))
        except OrderStatusUnknown as exc:
            assert exc.client_order_id == coid
            assert broker.order_count <= 1
        except TransientError as exc:
            assert not exc.ambiguous
            assert broker.order_count == 0
        else:
            assert [o.id for o in broker.orders()] == [ack.id]
        assert {r.idempotency_key for r in broker.seen("POST")} <= {coid}
