"""Spot orders through a real ccxt.binance object against recorded Binance answers."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import ccxt
import pytest
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, TICK_SIZE

from qmtl_ccxt_common.markets import conform
from qmtl_ccxt_common.recorded import BinanceReplay
from qmtl_ccxt_common.testing import SEED_ORDER
from qmtl_core.brokerage import OcoSupport
from qmtl_core.errors import OrderNotCancelable, OrderNotFound, OrderValidationError
from qmtl_core.oco import OCOOrder
from qmtl_core.orders import OrderStatus, to_decimal, validate_order
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient


def test_seed_limit_order_is_sent_signed_to_the_testnet(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    ack = client.post_order(SEED_ORDER)

    (sent,) = venue.sent("POST", "order")
    assert sent.host == "testnet.binance.vision"
    assert sent.path == "/api/v3/order"
    assert sent.params["symbol"] == "BTCUSDT"
    assert sent.params["side"] == "BUY"
    assert sent.params["type"] == "LIMIT"
    assert sent.params["quantity"] == "0.001"
    assert sent.params["price"] == "10000"
    assert sent.params["timeInForce"] == "GTC"
    assert sent.params["newClientOrderId"] == ack.client_order_id
    assert sent.params["signature"] and sent.headers["X-MBX-APIKEY"] == venue.api_key
    assert ack.status is OrderStatus.NEW
    assert ack["id"] == str(venue.order(ack.client_order_id).order_id)
    assert ack.symbol == "BTC/USDT" and ack.filled_quantity == 0


def test_given_client_order_id_is_the_venue_client_id(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    ack = client.post_order({**SEED_ORDER, "client_order_id": "strategy-7.leg-1"})
    assert venue.sent("POST", "order")[0].params["newClientOrderId"] == "strategy-7.leg-1"
    assert ack.client_order_id == "strategy-7.leg-1"


def test_quantity_and_price_are_rounded_to_the_market_precision(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    ack = client.post_order({**SEED_ORDER, "quantity": "0.0012345", "limit_price": "10000.126"})
    sent = venue.sent("POST", "order")[0].params
    # Step size 0.00001 truncates the amount; tick size 0.01 rounds the price.
    assert (sent["quantity"], sent["price"]) == ("0.00123", "10000.13")
    assert client.validate({**SEED_ORDER, "quantity": "0.0012345"}).quantity == Decimal("0.00123")
    assert ack.status is OrderStatus.NEW


@pytest.mark.parametrize(
    ("change", "field", "quoted"),
    [
        ({"quantity": "0.000001"}, "quantity", "step size 0.00001"),
        ({"quantity": "0.0001", "limit_price": "100"}, "quantity", "below the minimum 5"),
        ({"quantity": "10000"}, "quantity", "above the maximum 9000"),
        ({"limit_price": "2000000"}, "limit_price", "above the maximum 1000000"),
        ({"type": "market", "limit_price": None, "quantity": "100"}, "quantity", "76.13"),
    ],
)
def test_market_limits_are_checked_before_sending(
    client: CcxtBrokerageClient,
    venue: BinanceReplay,
    change: dict[str, object],
    field: str,
    quoted: str,
) -> None:
    order = {**SEED_ORDER, **change}
    if order["type"] == "market":
        order.pop("time_in_force")
    with pytest.raises(OrderValidationError) as info:
        client.post_order(order)
    assert info.value.field == field
    assert quoted in str(info.value) and "BTC/USDT on binance" in str(info.value)
    assert venue.sent("POST", "order") == []


def test_limits_of_reloaded_markets_apply_to_the_next_order(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    order = {**SEED_ORDER, "quantity": "5"}
    assert client.validate(order).quantity == Decimal("5")
    symbol = next(s for s in venue.data["exchangeInfo"]["symbols"] if s["symbol"] == "BTCUSDT")
    lot_size = next(f for f in symbol["filters"] if f["filterType"] == "LOT_SIZE")
    lot_size["maxQty"] = "2.00000000"
    client.exchange.load_markets(reload=True)
    with pytest.raises(OrderValidationError, match="above the maximum 2 ") as info:
        client.validate(order)
    assert info.value.field == "quantity"


def test_unknown_symbol_names_the_field_and_a_close_match(client: CcxtBrokerageClient) -> None:
    with pytest.raises(OrderValidationError) as info:
        client.post_order({**SEED_ORDER, "symbol": "BTC/USTD"})
    assert info.value.field == "symbol" and "did you mean 'BTC/USDT'" in str(info.value)


def test_time_in_force_rules(client: CcxtBrokerageClient, venue: BinanceReplay) -> None:
    market = {"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": "0.001"}
    with pytest.raises(OrderValidationError, match="only for limit orders"):
        client.post_order({**market, "time_in_force": "IOC"})
    with pytest.raises(OrderValidationError, match="GTD"):
        client.post_order({**SEED_ORDER, "time_in_force": "GTD"})
    client.post_order({**SEED_ORDER, "time_in_force": "IOC"})
    assert [r.params["timeInForce"] for r in venue.sent("POST", "order")] == ["IOC"]


def test_market_order_fills_with_the_average_price(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    ack = client.post_order(
        {"symbol": "BTC/USDT", "side": "SELL", "type": "market", "quantity": 0.01}
    )
    sent = venue.sent("POST", "order")[0].params
    assert sent["type"] == "MARKET" and "price" not in sent and "timeInForce" not in sent
    assert ack.status is OrderStatus.FILLED  # ccxt "closed" is recognised as filled
    assert ack.filled_quantity == Decimal("0.01")
    assert ack.average_price == Decimal("30000")


def test_poll_maps_partial_and_full_fills(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    ack = client.post_order(SEED_ORDER)
    venue.fill(ack.client_order_id, "0.0004")
    partial = client.poll_order_status(ack)
    assert partial.status is OrderStatus.PARTIALLY_FILLED  # ccxt "open" with fills
    assert partial.filled_quantity == Decimal("0.0004")
    venue.fill(ack.client_order_id)
    done = client.poll_order_status(ack.id)
    assert done.status is OrderStatus.FILLED and done.average_price == Decimal("10000")
    query = venue.sent("GET", "order")[-1].params
    assert (query["symbol"], query["orderId"]) == ("BTCUSDT", ack.id)


def test_poll_by_client_order_id(client: CcxtBrokerageClient, venue: BinanceReplay) -> None:
    ack = client.post_order({**SEED_ORDER, "client_order_id": "by-client-id"})
    assert client.poll_order_status("by-client-id").id == ack.id
    assert venue.sent("GET", "order")[-1].params["origClientOrderId"] == "by-client-id"


def test_cancel_passes_the_symbol(client: CcxtBrokerageClient, venue: BinanceReplay) -> None:
    ack = client.post_order(SEED_ORDER)
    canceled = client.cancel_order(ack.id)
    cancel = venue.sent("DELETE", "order")[0]
    assert (cancel.params["symbol"], cancel.params["orderId"]) == ("BTCUSDT", ack.id)
    assert canceled.status is OrderStatus.CANCELED
    # Binance answers a cancel with the cancel request's client id: we keep the order's.
    assert canceled.client_order_id == ack.client_order_id


def test_cancel_an_order_this_client_never_saw_needs_its_symbol(
    make_client: Callable[..., CcxtBrokerageClient], venue: BinanceReplay
) -> None:
    ack = make_client().post_order(SEED_ORDER)
    restarted = make_client()
    with pytest.raises(OrderNotFound, match="pass symbol="):
        restarted.cancel_order(ack.id)
    assert venue.sent("DELETE", "order") == []
    assert restarted.cancel_order(ack.id, symbol="BTC/USDT").status is OrderStatus.CANCELED


def test_cancel_of_a_filled_order_is_not_cancelable(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    ack = client.post_order(SEED_ORDER)
    venue.fill(ack.client_order_id)
    with pytest.raises(OrderNotCancelable) as info:
        client.cancel_order(ack)
    assert info.value.status == "filled"


def test_cancel_of_an_unknown_order_is_not_found(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    with pytest.raises(OrderNotFound):
        client.cancel_order("424242", symbol="BTC/USDT")


def test_open_orders_after_a_restart_can_be_canceled(
    make_client: Callable[..., CcxtBrokerageClient], venue: BinanceReplay
) -> None:
    first = make_client()
    btc = first.post_order(SEED_ORDER)
    eth = first.post_order(
        {**SEED_ORDER, "symbol": "ETH/USDT", "quantity": 0.01, "limit_price": 1000}
    )
    first.post_order({"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": 0.001})

    restarted = make_client()
    working = {a.client_order_id: a for a in restarted.open_orders()}
    assert set(working) == {btc.client_order_id, eth.client_order_id}
    assert working[eth.client_order_id].symbol == "ETH/USDT"
    assert all(a.status is OrderStatus.NEW for a in working.values())
    assert [a.id for a in restarted.open_orders("ETH/USDT")] == [eth.id]
    assert venue.sent("GET", "openOrders")[-1].params["symbol"] == "ETHUSDT"
    # Listing taught the client each order's symbol.
    assert restarted.cancel_order(eth.id).status is OrderStatus.CANCELED


def test_balance_is_normalised(client: CcxtBrokerageClient) -> None:
    balances = client.balance()
    assert set(balances) == {"BTC", "USDT"}  # zero balances are left out
    usdt = balances["USDT"]
    assert (usdt.free, usdt.used, usdt.total) == (Decimal("9990"), Decimal("10"), Decimal("10000"))


def test_manual_oco_cancels_the_sibling_with_its_symbol(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    assert client.capabilities.oco is OcoSupport.MANUAL
    take_profit = {"symbol": "BTC/USDT", "side": "SELL", "type": "limit", "quantity": "0.001"}
    oco = OCOOrder({**take_profit, "limit_price": "33000"}, {**take_profit, "limit_price": "90000"})
    first, second = oco.execute(client, watch=False)
    assert oco.check() is None
    venue.set_price("BTCUSDT", "34000")
    result = oco.check()
    assert result is not None and result.filled is not None and result.canceled is not None
    assert (result.filled.id, result.canceled.id) == (first.id, second.id)
    cancel = venue.sent("DELETE", "order")[0].params
    assert (cancel["symbol"], cancel["orderId"]) == ("BTCUSDT", second.id)
    assert venue.order(second.client_order_id).status == "CANCELED"


@pytest.mark.parametrize(
    ("mode", "amount_precision", "price_precision"),
    [(TICK_SIZE, 0.001, 0.5), (TICK_SIZE, 1, 10), (DECIMAL_PLACES, 3, 1), (DECIMAL_PLACES, 0, 0)],
)
def test_rounding_is_ccxts_digit_for_digit(
    mode: int, amount_precision: float, price_precision: float
) -> None:
    # Values on the step skip ccxt's string helpers: the result must be what they give.
    exchange = ccxt.binance()
    exchange.precisionMode = mode
    exchange.set_markets(
        [
            {
                **{"id": "XY", "symbol": "X/Y", "base": "X", "quote": "Y", "baseId": "X"},
                **{"quoteId": "Y", "type": "spot", "spot": True, "active": True, "limits": {}},
                "precision": {"amount": amount_precision, "price": price_precision},
            }
        ]
    )
    texts = ["1", "10", "10.0", "10.50", "0.001", "0.0010", "1.2345", "1E+1", "1e-3", "7.5"]
    texts += ["100", "2.000", "12345678901234567890.5", "0.0000001", "3.25", "5"]
    for text in texts:
        order = {"symbol": "X/Y", "side": "BUY", "type": "limit", "quantity": "1", "price": "10"}
        for field, helper in (
            ("quantity", exchange.amount_to_precision),
            ("limit_price", exchange.price_to_precision),
        ):
            validated = validate_order({**order, field: text})
            try:
                expected = str(to_decimal(field, helper("X/Y", text)))
            except ccxt.InvalidOrder:  # rounds to 0: a typed error, nothing sent
                with pytest.raises(OrderValidationError, match="rounds to 0") as info:
                    conform(exchange, validated)
                assert info.value.field == field
                continue
            assert str(conform(exchange, validated)[field]) == expected, (field, text)
