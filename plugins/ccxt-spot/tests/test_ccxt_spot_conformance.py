"""The ccxt spot client runs the core's brokerage conformance kit against recorded Binance."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient
from qmtl_plugin_ccxt_spot.recorded import ReplayHarness
from qmtl_plugin_ccxt_spot.testing import RecordedConformance


class TestCcxtSpotConformance(RecordedConformance):
    @pytest.fixture
    def brokerage(
        self, venue: ReplayHarness, make_client: Callable[..., CcxtBrokerageClient]
    ) -> CcxtBrokerageClient:
        return make_client()
