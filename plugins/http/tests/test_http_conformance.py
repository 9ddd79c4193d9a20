"""The core conformance kit, run against the real client and the real reference broker."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from qmtl_core.testing import AsyncTwinConformance, BrokerageConformance, BrokerageFault
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.server import BrokerServer

TOKEN = "conformance-bearer-token"


class ReferenceVenue:
    """The reference broker seen as the kit's ``VenueHarness``; every fault is real HTTP."""

    symbol = "BTC/USDT"
    price = "50000"
    secrets: Sequence[str] = (TOKEN,)

    def __init__(self, server: BrokerServer) -> None:
        self.server = server

    def set_price(self, price: str) -> None:
        self.server.set_price(self.symbol, price)

    def order_count(self) -> int:
        return self.server.order_count

    def inject(self, fault: BrokerageFault, *, retry_after: float = 0.2) -> bool:
        faults = self.server.faults
        if fault == "transient":
            faults.fail_next(1, 503, method="POST")
        elif fault == "ambiguous":
            faults.reset_next(1, method="POST", accept=True)  # placed, answer lost
        elif fault == "rate_limit":
            faults.rate_limit_next(1, retry_after=retry_after, method="POST")
        else:
            faults.fail_next(1, 400, method="POST", message="insufficient balance")
        return True


@pytest.fixture
def server() -> Iterator[BrokerServer]:
    with BrokerServer(prices={ReferenceVenue.symbol: ReferenceVenue.price}, token=TOKEN) as s:
        yield s


@pytest.fixture
def client(server: BrokerServer) -> Iterator[HttpBrokerageClient]:
    with HttpBrokerageClient(server.url, backoff=0.01, token=TOKEN) as client:
        yield client


class OnReferenceBroker:
    """The venue fixture of both suites (it must be a class fixture to override the kit's)."""

    @pytest.fixture
    def venue(self, server: BrokerServer) -> ReferenceVenue:
        return ReferenceVenue(server)


class TestHttpBrokerage(OnReferenceBroker, BrokerageConformance):
    @pytest.fixture
    def brokerage(self, client: HttpBrokerageClient) -> HttpBrokerageClient:
        return client


class TestHttpBrokerageAsyncTwin(OnReferenceBroker, AsyncTwinConformance):
    """The same cases through ``AsyncBrokerage``: venue calls in the bounded pool."""

    @pytest.fixture
    def blocking_brokerage(self, client: HttpBrokerageClient) -> HttpBrokerageClient:
        return client
