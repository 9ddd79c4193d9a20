"""The ccxt-futures connector through the registry, qmtl.yml, and make_ccxt_brokerage."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from qmtl_ccxt_common.fees import clear_fee_cache, make_ccxt_brokerage
from qmtl_ccxt_common.testing import live_qmtl_yml
from qmtl_core.config import load_connectors
from qmtl_core.errors import ConfigError
from qmtl_core.registry import default_registry
from qmtl_plugin_ccxt_futures.client import FuturesCcxtBrokerageClient
from qmtl_plugin_ccxt_futures.recorded import BinanceUsdmReplay

ORDER = {"symbol": "BTC/USDT", "side": "BUY", "type": "limit", "quantity": "0.01"}


@pytest.fixture(autouse=True)
def empty_fee_cache() -> Iterator[None]:
    clear_fee_cache()
    yield
    clear_fee_cache()


def test_registry_spec_and_export() -> None:
    spec = default_registry().get("brokerage", "ccxt-futures")
    assert spec.futures is True and spec.oco == "exchange-dependent"
    assert spec.distribution == "qmtl-plugin-ccxt-futures"
    from qmtl_core import FuturesCcxtBrokerageClient as exported

    assert exported is FuturesCcxtBrokerageClient


def test_futures_options_are_validated_by_the_schema() -> None:
    registry = default_registry()
    with pytest.raises(ConfigError, match="'cross', 'isolated'") as info:
        registry.create("brokerage", "ccxt-futures", exchange="binanceusdm", margin_mode="x")
    assert info.value.key == "margin_mode"
    with pytest.raises(ConfigError, match="expected integer"):
        FuturesCcxtBrokerageClient("binanceusdm", leverage="5")


def test_qmtl_yml_live_and_dryrun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, venue: BinanceUsdmReplay
) -> None:
    config = live_qmtl_yml(
        tmp_path,
        monkeypatch,
        venue,
        ("BINANCE_DEMO_KEY", "BINANCE_DEMO_SECRET"),
        name="ccxt-futures",
        exchange="binanceusdm",
        sandbox=True,
        leverage=5,
        enableRateLimit=False,
    )
    connectors = load_connectors(config)
    assert venue.secret not in repr(connectors)
    ack = connectors.brokerage.post_order(ORDER | {"limit_price": "20000"})
    assert ack.status.value == "new"
    assert venue.sent("POST", "leverage")[0].params["leverage"] == "5"
    assert venue.sent("POST", "order")[0].host == "demo-fapi.binance.com"
    # A dry run of the same config accepts futures fields on the paper broker.
    dry = connectors.with_domain("dryrun").brokerage
    assert dry.capabilities.futures is True


def test_fee_model_for_futures_from_the_market(venue: BinanceUsdmReplay) -> None:
    model = make_ccxt_brokerage("binanceusdm", product="futures", symbol="BTC/USDT", sandbox=True)
    assert (model.maker, model.taker, model.source) == (
        Decimal("0.0002"),
        Decimal("0.0005"),
        "market",
    )
    assert venue.sent("GET", "exchangeInfo")[0].host == "demo-fapi.binance.com"


def test_the_exchange_defaults_to_binance_usdm_as_upstream() -> None:
    client = FuturesCcxtBrokerageClient()
    assert client.venue.id == "binanceusdm" and client.environment == "live"
    section = load_connectors(
        {"connectors": {"execution_domain": "live", "brokerage": {"name": "ccxt-futures"}}}
    ).config.brokerage
    assert section is not None and section.config.exchange == "binanceusdm"  # type: ignore[attr-defined]
