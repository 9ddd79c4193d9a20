"""Building the ccxt spot client: options, aliases, environments, registry and qmtl.yml."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import ccxt
import ccxt.async_support
import pytest

from qmtl_ccxt_common.recorded import BinanceReplay
from qmtl_ccxt_common.testing import LIMIT_ORDER, live_qmtl_yml
from qmtl_core import runtime
from qmtl_core.config import load_connectors
from qmtl_core.errors import ConfigError
from qmtl_core.redaction import Secret
from qmtl_core.registry import default_registry
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient


def test_seed_constructor_with_options(venue: BinanceReplay) -> None:
    client = CcxtBrokerageClient(
        "binance",
        apiKey=venue.api_key,
        secret=venue.secret,
        sandbox=True,
        options={"defaultType": "spot", "recvWindow": 5000},
    )
    assert client.environment == "sandbox"
    assert client.exchange.enableRateLimit is True  # on by default
    assert client.exchange.options["recvWindow"] == 5000
    # The user's options merge over the connector's defaults instead of replacing them.
    assert client.exchange.options["fetchMarkets"]["types"] == ["spot"]
    client.post_order(LIMIT_ORDER)
    assert venue.sent("POST", "order")[0].params["recvWindow"] == "5000"


def test_aliases_testnet_and_api_key(venue: BinanceReplay) -> None:
    client = CcxtBrokerageClient(
        "binance", api_key=venue.api_key, secret=venue.secret, testnet=True
    )
    assert client.environment == "sandbox" and client.exchange.apiKey == venue.api_key
    with pytest.raises(ConfigError, match="given twice"):
        CcxtBrokerageClient("binance", apiKey="a-key-1", api_key="a-key-2")


@pytest.mark.parametrize(
    ("options", "environment", "host"),
    [
        ({}, "live", "api.binance.com"),
        ({"sandbox": True}, "sandbox", "testnet.binance.vision"),
        ({"demo": True}, "demo", "demo-api.binance.com"),
    ],
)
def test_environment_decides_the_host(
    make_client: Callable[..., CcxtBrokerageClient],
    venue: BinanceReplay,
    options: dict[str, bool],
    environment: str,
    host: str,
) -> None:
    client = make_client(**{"sandbox": False, **options})
    assert client.environment == environment
    client.post_order(LIMIT_ORDER)
    assert {r.host for r in venue.requests} == {host}


def test_sandbox_and_demo_together_is_an_error() -> None:
    with pytest.raises(ConfigError, match="choose one") as info:
        CcxtBrokerageClient("binance", sandbox=True, demo=True)
    assert info.value.key == "demo"


def test_a_venue_without_a_sandbox_is_an_error_not_a_live_connection() -> None:
    with pytest.raises(ConfigError, match="no sandbox") as info:
        CcxtBrokerageClient("kraken", sandbox=True)
    assert info.value.key == "sandbox" and "refusing to fall back" in str(info.value)
    with pytest.raises(ConfigError, match="no demo trading"):
        CcxtBrokerageClient("kraken", demo=True)


def test_unknown_exchange_suggests_a_close_id() -> None:
    with pytest.raises(ConfigError, match="did you mean 'binance'") as info:
        CcxtBrokerageClient("binanse")
    assert info.value.key == "exchange"


def test_misspelt_option_is_an_error_not_a_silent_live_client() -> None:
    with pytest.raises(ConfigError, match="did you mean 'sandbox'") as info:
        CcxtBrokerageClient("binance", sandbx=True)
    assert info.value.key == "sandbx"


def test_timeout_comes_from_runtime_at_call_time(
    client: CcxtBrokerageClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="HTTP_TIMEOUT_SECONDS"):
        CcxtBrokerageClient("binance", timeout=5000)
    monkeypatch.setattr(runtime, "HTTP_TIMEOUT_SECONDS", 0.7)
    client.balance()
    assert client.exchange.timeout == 700


def test_other_ccxt_settings_reach_the_constructor_and_secrets_stay_wrapped() -> None:
    checked = default_registry().validate(
        "brokerage", "ccxt", {"exchange": "binance", "password": "pass-phrase-1", "uid": "7"}
    )
    assert isinstance(checked.extra["password"], Secret) and checked.extra["uid"] == "7"
    client = default_registry().build("brokerage", "ccxt", checked)
    assert client.exchange.password == "pass-phrase-1" and client.exchange.uid == "7"


def test_a_ready_ccxt_instance_can_be_passed(venue: BinanceReplay) -> None:
    # An instance is used as configured: only spot markets, as the connector would load.
    options = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}
    exchange = ccxt.binance({"apiKey": venue.api_key, "secret": venue.secret, "options": options})
    client = CcxtBrokerageClient(exchange, sandbox=True, backoff=0.01)
    assert client.exchange is exchange and client.environment == "sandbox"
    assert client.post_order(LIMIT_ORDER).status.value == "new"
    with pytest.raises(ConfigError, match="ready ccxt exchange"):
        CcxtBrokerageClient(ccxt.binance(), apiKey="a-key-1")
    with pytest.raises(ConfigError, match="synchronous"):
        CcxtBrokerageClient(ccxt.async_support.binance())


def test_registry_builds_the_client_with_aliases(venue: BinanceReplay) -> None:
    spec = default_registry().get("brokerage", "ccxt")
    assert spec.oco == "exchange-dependent" and spec.distribution == "qmtl-plugin-ccxt-spot"
    client = default_registry().create(
        "brokerage",
        "ccxt",
        exchange="binance",
        api_key=venue.api_key,
        secret=venue.secret,
        testnet=True,
        enableRateLimit=False,
    )
    assert isinstance(client, CcxtBrokerageClient) and client.environment == "sandbox"
    from qmtl_core import CcxtBrokerageClient as exported
    from qmtl_core import make_ccxt_brokerage

    assert exported is CcxtBrokerageClient and callable(make_ccxt_brokerage)


def test_qmtl_yml_with_environment_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, venue: BinanceReplay
) -> None:
    config = live_qmtl_yml(
        tmp_path,
        monkeypatch,
        venue,
        ("BINANCE_TESTNET_KEY", "BINANCE_TESTNET_SECRET"),
        name="ccxt",
        exchange="binance",
        testnet=True,
        options={"defaultType": "spot"},
    )
    connectors = load_connectors(config)
    assert venue.api_key not in repr(connectors) and venue.secret not in repr(connectors)
    connectors.brokerage.post_order(LIMIT_ORDER)
    assert venue.sent("POST", "order")[0].host == "testnet.binance.vision"


def test_listing_connectors_does_not_import_ccxt() -> None:
    code = (
        "import sys\n"
        "from qmtl_core.cli import main\n"
        "main(['plugins'])\n"
        "heavy = [m for m in ('ccxt', 'requests', 'responses') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "ccxt" in result.stdout and "exchange-dependent" in result.stdout
