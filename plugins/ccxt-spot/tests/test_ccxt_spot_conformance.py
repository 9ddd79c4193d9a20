"""The ccxt spot client runs the core's brokerage conformance kit against recorded Binance."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qmtl_core.testing import BrokerageConformance
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient
from qmtl_plugin_ccxt_spot.recorded import BinanceReplay, ReplayHarness


class TestCcxtSpotConformance(BrokerageConformance):
    @pytest.fixture
    def venue(self, venue: BinanceReplay) -> ReplayHarness:  # type: ignore[override]
        return ReplayHarness(venue)

    @pytest.fixture
    def brokerage(  # type: ignore[override]
        self, venue: ReplayHarness, make_client: Callable[..., CcxtBrokerageClient]
    ) -> CcxtBrokerageClient:
        return make_client()
