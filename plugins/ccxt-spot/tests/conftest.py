"""Fixtures: the recorded Binance spot venue (served by ``responses``) and clients of it.

The credentials are distinctive strings so that tests can scan logs and errors for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from qmtl_core.events import OrderEvent
from qmtl_core.hookspecs import hookimpl
from qmtl_core.registry import default_registry
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient
from qmtl_plugin_ccxt_spot.recorded import BinanceReplay, binance_spot
from qmtl_plugin_ccxt_spot.testing import client_factory

API_KEY = "spot-test-key-Zq81hXyW9mLpA2cD"
SECRET = "spot-test-secret-Vb72kRtU0sNeF4gH"


@pytest.fixture
def venue() -> Iterator[BinanceReplay]:
    """Recorded Binance spot on every spot host; unmatched requests fail the test."""
    with binance_spot(api_key=API_KEY, secret=SECRET) as replay:
        yield replay


@pytest.fixture
def make_client(venue: BinanceReplay) -> Callable[..., CcxtBrokerageClient]:
    """Build a testnet client of the recorded venue; keyword arguments override defaults."""
    return client_factory(CcxtBrokerageClient, "binance", API_KEY, SECRET)


@pytest.fixture
def client(make_client: Callable[..., CcxtBrokerageClient]) -> CcxtBrokerageClient:
    return make_client()


class EventLog:
    def __init__(self) -> None:
        self.events: list[OrderEvent] = []

    @hookimpl
    def qmtl_order_event(self, event: OrderEvent) -> None:
        self.events.append(event)

    def kinds(self, client_order_id: str) -> list[str]:
        return [e.kind for e in self.events if e.client_order_id == client_order_id]

    def of(self, kind: str) -> list[OrderEvent]:
        return [e for e in self.events if e.kind == kind]


@pytest.fixture
def order_events() -> Iterator[EventLog]:
    """Every order event emitted during the test, via the observer hook."""
    log = EventLog()
    manager = default_registry().plugin_manager
    manager.register(log, name="ccxt-spot-test-events")
    yield log
    manager.unregister(name="ccxt-spot-test-events")
