"""make_ccxt_brokerage: fee rates from ccxt metadata, charged on the filled quantity."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
import responses

from qmtl_ccxt_common.fees import clear_fee_cache, make_ccxt_brokerage
from qmtl_ccxt_common.recorded import BinanceReplay
from qmtl_core.errors import ConfigError
from qmtl_core.orders import OrderAck, OrderStatus
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    clear_fee_cache()
    yield
    clear_fee_cache()


def test_fees_from_the_symbols_market(venue: BinanceReplay) -> None:
    model = make_ccxt_brokerage("binance", symbol="BTC/USDT", sandbox=True)
    assert (model.maker, model.taker, model.source) == (
        Decimal("0.001"),
        Decimal("0.001"),
        "market",
    )
    (info,) = venue.sent("GET", "exchangeInfo")
    assert info.host == "testnet.binance.vision"


def test_detected_fees_are_cached_per_key_until_refreshed(venue: BinanceReplay) -> None:
    first = make_ccxt_brokerage("binance", symbol="BTC/USDT", sandbox=True)
    assert make_ccxt_brokerage("binance", symbol="BTC/USDT", sandbox=True) is first
    assert len(venue.sent("GET", "exchangeInfo")) == 1
    make_ccxt_brokerage("binance", symbol="ETH/USDT", sandbox=True)  # another key
    refreshed = make_ccxt_brokerage("binance", symbol="BTC/USDT", sandbox=True, refresh=True)
    assert refreshed is not first and refreshed == first
    assert len(venue.sent("GET", "exchangeInfo")) == 3


def test_fee_is_charged_on_the_filled_quantity(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    model = make_ccxt_brokerage("binance", symbol="BTC/USDT", sandbox=True)
    order = {"symbol": "BTC/USDT", "side": "BUY", "type": "limit", "quantity": "0.001"}
    ack = client.post_order({**order, "limit_price": "10000"})
    assert model.fee_for(ack, "maker") == 0  # nothing filled, nothing charged
    venue.fill(ack.client_order_id, "0.0004")
    partial = client.poll_order_status(ack)
    # 0.0004 filled of 0.001 ordered, at 10000: the fee is on 4 USDT, not 10.
    assert model.fee_for(partial, "maker") == Decimal("0.0004") * 10000 * Decimal("0.001")


def test_maker_and_taker_rates_differ_offline_from_static_metadata() -> None:
    with responses.RequestsMock() as mock:
        mock.add(
            "GET",
            re.compile(r"https://fapi\.binance\.com/fapi/v1/exchangeInfo.*"),
            body=requests.ConnectionError("network unreachable"),
        )
        model = make_ccxt_brokerage("binanceusdm", product="futures", symbol="BTC/USDT")
    assert model.source == "exchange"
    assert (model.maker, model.taker) == (Decimal("0.0002"), Decimal("0.0005"))
    fill = OrderAck(
        "1", "c1", OrderStatus.FILLED, filled_quantity=Decimal("2"), average_price=Decimal("100")
    )
    assert model.fee_for(fill, "maker") == Decimal("0.04")
    assert model.fee_for(fill, "taker") == Decimal("0.1")
    assert model.fee(Decimal("2"), "100", "taker") == Decimal("0.1")


def test_no_symbol_uses_the_static_schedule_without_network() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        model = make_ccxt_brokerage("binance")
    assert not mock.calls
    assert model.source == "exchange" and model.taker == Decimal("0.001")


def test_defaults_when_detection_is_off() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        model = make_ccxt_brokerage("binance", detect_fees=False, defaults=(0.0001, "0.0004"))
    assert not mock.calls
    assert (model.maker, model.taker, model.source) == (
        Decimal("0.0001"),
        Decimal("0.0004"),
        "defaults",
    )
    with pytest.raises(ConfigError, match="pass defaults") as info:
        make_ccxt_brokerage("binance", detect_fees=False)
    assert info.value.key == "defaults"


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"product": "options"}, "product"),
        ({"defaults": ("cheap", 1)}, "defaults"),
        ({"symbol": "BTC/USTD", "sandbox": True}, "symbol"),
    ],
)
def test_bad_arguments_are_config_errors(
    venue: BinanceReplay, kwargs: dict[str, object], key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        make_ccxt_brokerage("binance", **kwargs)  # type: ignore[arg-type]
    assert info.value.key == key


def test_liquidity_must_be_maker_or_taker() -> None:
    model = make_ccxt_brokerage("binance", detect_fees=False, defaults=(0, 0))
    with pytest.raises(ValueError, match="maker' or 'taker"):
        model.rate("both")  # type: ignore[arg-type]
