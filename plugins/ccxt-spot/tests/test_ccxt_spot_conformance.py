"""The ccxt spot client runs the core's brokerage conformance kit against recorded Binance."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qmtl_ccxt_common.recorded import ReplayHarness
from qmtl_ccxt_common.testing import RecordedAsyncTwinConformance, RecordedConformance
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient


class TestCcxtSpotConformance(RecordedConformance):
    @pytest.fixture
    def brokerage(
        self, venue: ReplayHarness, make_client: Callable[..., CcxtBrokerageClient]
    ) -> CcxtBrokerageClient:
        return make_client()


class TestCcxtSpotAsyncTwin(RecordedAsyncTwinConformance):
    """The same cases through the ``ccxt.async_support`` twin on the loopback recording."""

    @pytest.fixture
    def blocking_brokerage(
        self, venue: ReplayHarness, make_client: Callable[..., CcxtBrokerageClient]
    ) -> CcxtBrokerageClient:
        return make_client()
