"""The ccxt futures client runs the core's brokerage conformance kit against recorded USD-M."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qmtl_core.testing import BrokerageConformance
from qmtl_plugin_ccxt_futures.client import FuturesCcxtBrokerageClient
from qmtl_plugin_ccxt_futures.recorded import BinanceUsdmReplay
from qmtl_plugin_ccxt_spot.recorded import ReplayHarness


class TestCcxtFuturesConformance(BrokerageConformance):
    @pytest.fixture
    def venue(self, venue: BinanceUsdmReplay) -> ReplayHarness:  # type: ignore[override]
        return ReplayHarness(venue)

    @pytest.fixture
    def brokerage(  # type: ignore[override]
        self, venue: ReplayHarness, make: Callable[..., FuturesCcxtBrokerageClient]
    ) -> FuturesCcxtBrokerageClient:
        return make(leverage=3, margin_mode="cross")
