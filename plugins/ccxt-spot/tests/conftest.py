"""Fixtures: the recorded Binance spot venue (served by ``responses``) and clients of it.

The credentials are distinctive strings so that tests can scan logs and errors for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from qmtl_ccxt_common.recorded import BinanceReplay, binance_spot
from qmtl_ccxt_common.testing import client_factory
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient

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
