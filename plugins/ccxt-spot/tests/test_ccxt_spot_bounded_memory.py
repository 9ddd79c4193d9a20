"""A long run through the ccxt client retains nothing per order once its caches are full."""

from __future__ import annotations

import pytest

from qmtl_ccxt_common.recorded import BinanceReplay
from qmtl_ccxt_common.testing import LIMIT_ORDER
from qmtl_core import runtime
from qmtl_core.testing.memory import retained_bytes_per_order
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient

CAP = 100


def test_the_ccxt_client_stays_bounded(
    client: CcxtBrokerageClient, venue: BinanceReplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "MAX_COMPLETED_ORDERS", CAP)
    venue.set_rate_limits([])  # a long run, not a rate-limit test

    def send(i: int) -> None:
        client.post_order(LIMIT_ORDER | {"client_order_id": f"long-{i}"})
        # The recorded venue is a test peer that logs every order and request: empty its
        # logs so only the client's own memory is measured.
        venue.orders.clear()
        venue.requests.clear()
        venue.mock.calls.reset()
        for route in venue.mock.registered():
            route.calls.reset()

    # ~1 KB per order without the cap; a few bytes of noise from other threads allowed.
    assert retained_bytes_per_order(send, cap=CAP, orders=1_000) < 32
