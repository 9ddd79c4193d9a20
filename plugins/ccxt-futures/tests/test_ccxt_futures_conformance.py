"""The ccxt futures client runs the core's brokerage conformance kit against recorded USD-M."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qmtl_ccxt_common.recorded import ReplayHarness
from qmtl_ccxt_common.testing import RecordedAsyncTwinConformance, RecordedConformance
from qmtl_plugin_ccxt_futures.client import FuturesCcxtBrokerageClient


class TestCcxtFuturesConformance(RecordedConformance):
    @pytest.fixture
    def brokerage(
        self, venue: ReplayHarness, make: Callable[..., FuturesCcxtBrokerageClient]
    ) -> FuturesCcxtBrokerageClient:
        return make(leverage=3, margin_mode="cross")


class TestCcxtFuturesAsyncTwin(RecordedAsyncTwinConformance):
    """The same cases through the ``ccxt.async_support`` twin on the loopback recording."""

    @pytest.fixture
    def blocking_brokerage(
        self, venue: ReplayHarness, make: Callable[..., FuturesCcxtBrokerageClient]
    ) -> FuturesCcxtBrokerageClient:
        return make(leverage=3, margin_mode="cross")
