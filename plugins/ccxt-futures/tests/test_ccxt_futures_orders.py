"""USD-M futures through a real ccxt.binanceusdm object against recorded Binance answers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

import pytest

from qmtl_ccxt_common.testing import SEED_ORDER as SPOT_SEED_ORDER
from qmtl_core.errors import ConfigError, OrderRejected, OrderValidationError
from qmtl_core.orders import OrderStatus
from qmtl_plugin_ccxt_futures.client import FuturesCcxtBrokerageClient
from qmtl_plugin_ccxt_futures.recorded import BinanceUsdmReplay

Make = Callable[..., FuturesCcxtBrokerageClient]
SEED_ORDER = SPOT_SEED_ORDER | {
    "reduce_only": False,
    "position_side": "LONG",  # requires hedge_mode=True
    "leverage": 10,  # optional per-order adjustment
}
LIMIT = {"symbol": "BTC/USDT", "side": "BUY", "type": "limit", "quantity": "0.01"}


def calls(venue: BinanceUsdmReplay) -> list[tuple[str, str]]:
    """Signed calls in order, public ones (exchangeInfo, time) left out."""
    return [(r.method, r.name) for r in venue.requests if "signature" in r.params]


def test_seed_example_routes_sandbox_to_demo_trading(
    venue: BinanceUsdmReplay, caplog: pytest.LogCaptureFixture
) -> None:
    client = FuturesCcxtBrokerageClient(
        "binanceusdm",
        symbol="BTC/USDT",
        leverage=5,
        margin_mode="cross",
        hedge_mode=True,
        apiKey=venue.api_key,
        secret=venue.secret,
        sandbox=True,
    )
    assert client.environment == "demo"
    assert "routes to demo trading" in caplog.text

    resp = client.post_order(SEED_ORDER)

    assert resp.status is OrderStatus.NEW
    assert {r.host for r in venue.requests} == {"demo-fapi.binance.com"}
    assert calls(venue) == [
        ("POST", "positionSide/dual"),
        ("POST", "marginType"),
        ("POST", "leverage"),
        ("POST", "order"),
    ]
    assert venue.sent("POST", "positionSide/dual")[0].params["dualSidePosition"] == "true"
    margin = venue.sent("POST", "marginType")[0].params
    assert (margin["symbol"], margin["marginType"]) == ("BTCUSDT", "CROSSED")
    assert venue.sent("POST", "leverage")[0].params["leverage"] == "10"  # the order's own
    sent = venue.sent("POST", "order")[0].params
    assert sent["positionSide"] == "LONG" and "reduceOnly" not in sent
    assert (sent["type"], sent["quantity"], sent["price"], sent["timeInForce"]) == (
        "LIMIT",
        "0.001",
        "10000",
        "GTC",
    )
    assert sent["newClientOrderId"] == resp.client_order_id


def test_demo_explicitly_and_live_hosts(make: Make, venue: BinanceUsdmReplay) -> None:
    make(sandbox=False, demo=True).post_order(LIMIT | {"limit_price": "20000"})
    make(sandbox=False).post_order(LIMIT | {"limit_price": "20000"})
    hosts = [r.host for r in venue.sent("POST", "order")]
    assert hosts == ["demo-fapi.binance.com", "fapi.binance.com"]


def test_settings_are_applied_once_per_account_and_symbol(
    make: Make, venue: BinanceUsdmReplay
) -> None:
    client = make(leverage=5, margin_mode="isolated", hedge_mode=False)
    client.post_order(LIMIT | {"limit_price": "20000"})
    client.post_order(LIMIT | {"limit_price": "20001"})
    client.post_order(LIMIT | {"symbol": "ETH/USDT", "quantity": "0.02", "limit_price": "1500"})
    assert calls(venue) == [
        ("POST", "positionSide/dual"),
        ("POST", "marginType"),
        ("POST", "leverage"),
        ("POST", "order"),
        ("POST", "order"),
        ("POST", "marginType"),
        ("POST", "leverage"),
        ("POST", "order"),
    ]
    assert venue.margin_types == {"BTCUSDT": "ISOLATED", "ETHUSDT": "ISOLATED"}
    assert venue.leverages == {"BTCUSDT": 5, "ETHUSDT": 5}


def test_per_order_leverage_applies_before_that_order_only(
    make: Make, venue: BinanceUsdmReplay
) -> None:
    client = make(leverage=5)
    client.post_order(LIMIT | {"limit_price": "20000", "leverage": 20})
    assert venue.leverage_of("BTCUSDT") == 20
    client.post_order(LIMIT | {"limit_price": "20000"})
    assert [r.params["leverage"] for r in venue.sent("POST", "leverage")] == ["20", "5"]
    assert calls(venue)[-2:] == [("POST", "leverage"), ("POST", "order")]


def test_already_in_place_answers_count_as_success(
    make: Make, venue: BinanceUsdmReplay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # The account is already one-way and cross: Binance answers -4059 and -4046.
    ack = make(hedge_mode=False, margin_mode="cross").post_order(LIMIT | {"limit_price": "20000"})
    assert ack.status is OrderStatus.NEW
    assert "No need to change position side." in caplog.text
    assert "No need to change margin type." in caplog.text


def test_a_failed_setting_is_raised_and_retried_on_the_next_order(
    make: Make, venue: BinanceUsdmReplay
) -> None:
    venue.positions[("BTCUSDT", "BOTH")] = (Decimal("0.01"), Decimal("30000"))
    client = make(margin_mode="isolated")
    with pytest.raises(OrderRejected, match="Margin type cannot be changed"):
        client.post_order(LIMIT | {"limit_price": "20000"})
    assert venue.sent("POST", "order") == []
    del venue.positions[("BTCUSDT", "BOTH")]
    assert client.post_order(LIMIT | {"limit_price": "20000"}).status is OrderStatus.NEW
    assert len(venue.sent("POST", "marginType")) == 2
    assert venue.margin_types["BTCUSDT"] == "ISOLATED"


def test_one_way_mode_sends_reduce_only(make: Make, venue: BinanceUsdmReplay) -> None:
    client = make()
    client.post_order(LIMIT | {"limit_price": "20000", "reduce_only": True})
    client.post_order(LIMIT | {"limit_price": "20000", "reduce_only": False})
    client.post_order(LIMIT | {"limit_price": "20000", "position_side": "BOTH"})
    sent = [r.params for r in venue.sent("POST", "order")]
    assert [p.get("reduceOnly") for p in sent] == ["true", "false", None]
    assert [p.get("positionSide") for p in sent] == [None, None, "BOTH"]


@pytest.mark.parametrize("hedge_mode", [None, False])
def test_position_side_without_hedge_mode_is_a_validation_error(
    make: Make, venue: BinanceUsdmReplay, hedge_mode: bool | None
) -> None:
    client = make(hedge_mode=hedge_mode) if hedge_mode is not None else make()
    with pytest.raises(OrderValidationError) as info:
        client.post_order(SEED_ORDER)
    assert info.value.field == "position_side"
    assert "hedge_mode=True" in str(info.value) and "-4061" in str(info.value)
    assert calls(venue) == []


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"position_side": None}, "position_side", "required in hedge mode"),
        ({"position_side": "BOTH"}, "position_side", "required in hedge mode"),
        ({"reduce_only": True}, "reduce_only", "SELL with position_side LONG closes it"),
        ({"leverage": 2.5}, "leverage", "whole number"),
    ],
)
def test_hedge_mode_order_rules(
    make: Make, venue: BinanceUsdmReplay, change: dict[str, object], field: str, message: str
) -> None:
    client = make(hedge_mode=True)
    with pytest.raises(OrderValidationError, match=message) as info:
        client.post_order(SEED_ORDER | change)
    assert info.value.field == field
    assert calls(venue) == []


def test_hedge_mode_reduction_is_side_and_position_side(
    make: Make, venue: BinanceUsdmReplay
) -> None:
    client = make(hedge_mode=True)
    opened = client.post_order(LIMIT | {"type": "market", "position_side": "SHORT", "side": "SELL"})
    closing = client.post_order(
        LIMIT | {"type": "market", "position_side": "SHORT", "reduce_only": True}
    )
    assert opened.status is closing.status is OrderStatus.FILLED
    assert all("reduceOnly" not in r.params for r in venue.sent("POST", "order"))
    assert venue.positions[("BTCUSDT", "SHORT")][0] == 0


def test_venue_answers_for_a_mode_mismatch_are_rejections(
    make: Make, venue: BinanceUsdmReplay
) -> None:
    venue.dual_side = True  # the account is in hedge mode; the client was not told
    client = make()
    with pytest.raises(OrderRejected, match="position side does not match") as mismatch:
        client.post_order(LIMIT | {"limit_price": "20000"})
    assert mismatch.value.raw["code"] == -4061
    with pytest.raises(OrderRejected, match="'reduceonly' sent when not required"):
        client.post_order(LIMIT | {"limit_price": "20000", "reduce_only": False})
    assert venue.orders == {}


def test_leverage_limits(make: Make, venue: BinanceUsdmReplay) -> None:
    with pytest.raises(ConfigError, match="1 or more") as info:
        make(leverage=0)
    assert info.value.key == "leverage"
    with pytest.raises(OrderRejected, match="between 1 and 125"):
        make(leverage=150).post_order(LIMIT | {"limit_price": "20000"})


def test_notional_below_the_market_minimum_is_refused_before_sending(
    make: Make, venue: BinanceUsdmReplay
) -> None:
    with pytest.raises(OrderValidationError, match="below the minimum 20") as info:
        make().post_order(
            LIMIT | {"symbol": "ETH/USDT", "quantity": "0.001", "limit_price": "1000"}
        )
    assert "ETH/USDT:USDT on binanceusdm" in str(info.value)
    assert venue.sent("POST", "order") == []


def test_positions_are_normalised(make: Make, venue: BinanceUsdmReplay) -> None:
    client = make(hedge_mode=True)
    market = LIMIT | {"type": "market"}
    client.post_order(market | {"position_side": "LONG", "quantity": "0.02"})
    client.post_order(market | {"position_side": "SHORT", "side": "SELL", "quantity": "0.01"})
    venue.set_price("BTCUSDT", "31000")
    positions = {p.position_side: p for p in client.positions()}
    assert set(positions) == {"LONG", "SHORT"}
    long, short = positions["LONG"], positions["SHORT"]
    assert (long.side, long.quantity, long.entry_price) == ("long", Decimal("0.02"), Decimal(30000))
    assert (short.side, short.quantity) == ("short", Decimal("0.01"))
    assert long.unrealized_pnl == Decimal("20") and short.unrealized_pnl == Decimal("-10")
    assert long.symbol == "BTC/USDT:USDT" and long.margin_mode == "cross"
    assert venue.sent("GET", "positionRisk")[0].path == "/fapi/v3/positionRisk"


def test_lost_answer_then_duplicate_client_id_is_one_order(
    make: Make, venue: BinanceUsdmReplay
) -> None:
    venue.fail_next("POST", "order", "timeout", landed=True)
    venue.fail_next("GET", "order", "orderDoesNotExist")
    ack = make().post_order(LIMIT | {"limit_price": "20000", "client_order_id": "usdm-dup"})
    assert len(venue.sent("POST", "order")) == 2  # the re-send met -4116
    assert len(venue.orders) == 1 and ack.id == str(venue.order("usdm-dup").order_id)


def test_balance_and_cancel_with_the_default_symbol(make: Make, venue: BinanceUsdmReplay) -> None:
    client = make(symbol="BTC/USDT")
    ack = client.post_order(LIMIT | {"limit_price": "20000"})
    assert make(symbol="BTC/USDT").cancel_order(ack.id).status is OrderStatus.CANCELED
    assert venue.sent("DELETE", "order")[0].params["symbol"] == "BTCUSDT"
    assert client.balance()["USDT"].total == Decimal("5000")
