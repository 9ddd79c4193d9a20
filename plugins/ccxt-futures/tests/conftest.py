"""Fixtures: recorded Binance USD-M futures (served by ``responses``) and clients of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from qmtl_ccxt_common.testing import client_factory
from qmtl_plugin_ccxt_futures.client import FuturesCcxtBrokerageClient
from qmtl_plugin_ccxt_futures.recorded import BinanceUsdmReplay, binance_usdm

API_KEY = "usdm-test-key-Hc53pLwQ8rTzN1aB"
SECRET = "usdm-test-secret-Kd90sYvM2xGe7uJf"


@pytest.fixture
def venue() -> Iterator[BinanceUsdmReplay]:
    """Recorded USD-M on every futures host; unmatched requests fail the test."""
    with binance_usdm(api_key=API_KEY, secret=SECRET) as replay:
        yield replay


@pytest.fixture
def make(venue: BinanceUsdmReplay) -> Callable[..., FuturesCcxtBrokerageClient]:
    """A demo-trading client of the recorded venue; keyword arguments override defaults."""
    return client_factory(FuturesCcxtBrokerageClient, "binanceusdm", API_KEY, SECRET)
