"""Faults on the way to Binance: never two orders for one client id, nothing swallowed."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable

import ccxt
import pytest

from qmtl_ccxt_common.recorded import BinanceReplay, binance_spot
from qmtl_ccxt_common.testing import LIMIT_ORDER
from qmtl_core.errors import (
    AuthenticationError,
    OrderRejected,
    OrderStatusUnknown,
    RateLimited,
    TransientError,
)
from qmtl_core.orders import OrderStatus
from qmtl_core.testing import EventRecorder
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient

ORDER = LIMIT_ORDER | {"time_in_force": "GTC", "client_order_id": "fault-case-1"}


def test_create_times_out_but_the_order_landed(
    client: CcxtBrokerageClient, venue: BinanceReplay, qmtl_events: EventRecorder
) -> None:
    venue.fail_next("POST", "order", "timeout", landed=True)
    ack = client.post_order(ORDER)
    assert len(venue.orders) == 1
    assert ack.id == str(venue.order("fault-case-1").order_id)
    assert ack.status is OrderStatus.NEW
    # Looked up by client id instead of sending again.
    assert len(venue.sent("POST", "order")) == 1
    assert venue.sent("GET", "order")[0].params["origClientOrderId"] == "fault-case-1"
    assert "retried" in qmtl_events.kinds("fault-case-1")


def test_create_times_out_before_landing_is_sent_again_with_the_same_id(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    venue.fail_next("POST", "order", "timeout")
    ack = client.post_order(ORDER)
    posts = venue.sent("POST", "order")
    assert [p.params["newClientOrderId"] for p in posts] == ["fault-case-1", "fault-case-1"]
    assert len(venue.orders) == 1 and ack.status is OrderStatus.NEW


def test_duplicate_client_id_answer_returns_the_landed_order(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    # The first create lands but its answer is lost; the lookup right after does not
    # see it yet; the re-send is refused as a duplicate: fetch and return the order.
    venue.fail_next("POST", "order", "timeout", landed=True)
    venue.fail_next("GET", "order", "orderDoesNotExist")
    ack = client.post_order(ORDER)
    assert len(venue.sent("POST", "order")) == 2
    assert len(venue.orders) == 1
    assert ack.id == str(venue.order("fault-case-1").order_id)


def test_venue_without_fetch_order_is_searched_in_open_orders(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    client.exchange.has["fetchOrder"] = False
    venue.fail_next("POST", "order", "timeout", landed=True)
    ack = client.post_order(ORDER)
    assert venue.sent("GET", "order") == []
    assert venue.sent("GET", "openOrders")[0].params["symbol"] == "BTCUSDT"
    assert len(venue.orders) == 1 and ack.client_order_id == "fault-case-1"


def test_outcome_unknown_after_the_last_attempt(
    make_client: Callable[..., CcxtBrokerageClient], venue: BinanceReplay
) -> None:
    client = make_client(max_retries=1)
    venue.fail_next("POST", "order", "timeout")
    venue.fail_next("GET", "order", "internalError")
    venue.fail_next("GET", "order", "internalError")
    with pytest.raises(OrderStatusUnknown) as info:
        client.post_order(ORDER)
    assert info.value.client_order_id == "fault-case-1"
    assert venue.orders == {}


def test_rate_limit_backs_off_for_retry_after_then_places_one_order(
    client: CcxtBrokerageClient, venue: BinanceReplay, qmtl_events: EventRecorder
) -> None:
    venue.fail_next("POST", "order", "tooManyRequests", retry_after=0.25)
    ack = client.post_order(ORDER)
    assert ack.status is OrderStatus.NEW and len(venue.orders) == 1
    # A 429 is a refusal, not an ambiguous outcome: no lookup before the re-send.
    assert venue.sent("GET", "order") == []
    (retried,) = qmtl_events.of("retried")
    assert retried.data["delay"] >= 0.25 and "Too many requests" in retried.data["reason"]


def test_ip_ban_longer_than_we_wait_is_raised_at_once(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    venue.fail_next("POST", "order", "ipBanned")  # 418 with Retry-After: 120
    with pytest.raises(RateLimited) as info:
        client.post_order(ORDER)
    assert info.value.retry_after == 120
    assert "banned" in str(info.value)
    assert len(venue.sent("POST", "order")) == 1 and venue.orders == {}


def test_insufficient_balance_is_rejected_with_the_venue_message(
    client: CcxtBrokerageClient, venue: BinanceReplay, qmtl_events: EventRecorder
) -> None:
    venue.fail_next("POST", "order", "insufficientBalance")
    with pytest.raises(OrderRejected) as info:
        client.post_order(ORDER)
    assert "Account has insufficient balance for requested action." in str(info.value)
    assert info.value.raw["code"] == -2010
    assert info.value.raw["error"] == "InsufficientFunds"
    assert len(venue.sent("POST", "order")) == 1
    assert qmtl_events.kinds("fault-case-1")[-1] == "rejected"


def test_timestamp_outside_recv_window_resyncs_the_clock_and_retries(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    client.exchange.load_markets()
    venue.clock_offset_ms = -5000  # the venue's clock is 5 s behind ours
    ack = client.post_order(ORDER)
    first, second = venue.sent("POST", "order")
    assert venue.sent("GET", "time"), "the client should have measured the venue clock"
    assert int(first.params["timestamp"]) - int(second.params["timestamp"]) >= 4000
    assert len(venue.orders) == 1 and ack.status is OrderStatus.NEW


def test_bad_credentials_are_an_authentication_error_not_retried(
    make_client: Callable[..., CcxtBrokerageClient], venue: BinanceReplay
) -> None:
    client = make_client(apiKey="someone-elses-key-000")
    with pytest.raises(AuthenticationError, match="Invalid API-key"):
        client.post_order(ORDER)
    assert len(venue.sent("POST", "order")) == 1


def test_server_error_while_polling_is_retried(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    ack = client.post_order(ORDER)
    venue.fail_next("GET", "order", "internalError")
    assert client.poll_order_status(ack).status is OrderStatus.NEW
    assert len(venue.sent("GET", "order")) == 2


def test_execution_unknown_answer_is_looked_up_before_resending(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    # Binance -1007 (503): "execution status unknown"; here the order did land.
    venue.fail_next("POST", "order", "executionUnknown", landed=True)
    client.post_order(ORDER)
    assert len(venue.sent("POST", "order")) == 1 and len(venue.orders) == 1


def test_requests_outside_the_recording_fail_instead_of_reaching_the_network() -> None:
    with pytest.raises(RuntimeError, match="outside the recording"):
        with binance_spot() as venue:
            client = CcxtBrokerageClient("binance", sandbox=True, max_retries=0)
            with pytest.raises(ccxt.NetworkError):
                client.exchange.fetch_order_book("BTC/USDT")
            assert venue.unmatched()


@pytest.mark.parametrize("garbage", ["not_json", "empty_object", "empty_list"])
def test_a_placed_order_answered_with_garbage_is_looked_up_not_called_an_error(
    client: CcxtBrokerageClient, venue: BinanceReplay, garbage: str
) -> None:
    venue.fail_next("POST", "order", garbage, landed=True)
    ack = client.post_order(ORDER)
    assert ack.id == str(venue.order("fault-case-1").order_id)
    assert ack.status is OrderStatus.NEW
    assert len(venue.sent("POST", "order")) == 1  # found by its client id, not re-sent
    assert len(venue.orders) == 1


def test_a_key_revoked_mid_session_is_an_authentication_error_not_a_rate_limit(
    client: CcxtBrokerageClient, venue: BinanceReplay
) -> None:
    client.post_order(ORDER)  # the key worked once: ccxt now reads -2015 as an IP ban
    venue.fail_next("POST", "order", "invalidApiKey")
    with pytest.raises(AuthenticationError):
        client.post_order(ORDER | {"client_order_id": "fault-case-2"})
    assert len(venue.sent("POST", "order")) == 2  # refused once, not retried


def _point_at(urls: object, base: str) -> object:
    """ccxt's nested ``urls['api']`` with every Binance host replaced by ``base``."""
    if isinstance(urls, dict):
        return {key: _point_at(value, base) for key, value in urls.items()}
    if isinstance(urls, str):
        return re.sub(r"^https://[^/]+", base, urls)
    return urls


def test_a_network_error_keeps_its_cause_and_each_retry_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on: refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = CcxtBrokerageClient("binance", max_retries=2, backoff=0.01, enableRateLimit=False)
    client.exchange.urls["api"] = _point_at(client.exchange.urls["api"], f"http://127.0.0.1:{port}")
    caplog.set_level(logging.WARNING, logger="qmtl_core.execution")
    with pytest.raises(TransientError) as info:
        client.validate(LIMIT_ORDER)
    assert "cause: ConnectionRefusedError" in str(info.value)
    retries = [r.getMessage() for r in caplog.records if "retried" in r.getMessage()]
    assert len(retries) == 2
    assert re.fullmatch(
        r"retried call=binance\.load_markets attempt=1 delay=0\.\d{3} reason=.*ConnectionRefused.*",
        retries[0],
    )
