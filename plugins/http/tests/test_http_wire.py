"""Fine-grained answer and failure mapping, against a scripted loopback peer.

Every behaviour here also has a loopback test against the reference server; these pin
down the corner cases a real broker might produce and ours does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from qmtl_core import (
    OrderRejected,
    OrderStatus,
    OrderStatusUnknown,
    TransientError,
    VenueProtocolError,
)
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.wire import retry_after_seconds, transport_error

from .conftest import market
from .peer import ScriptedPeer

PATH = "/api/orders"
ORDER = {"id": "B1", "client_order_id": "c1", "status": "new", "symbol": "BTC/USDT"}


@pytest.fixture
def peer() -> Iterator[ScriptedPeer]:
    with ScriptedPeer() as scripted:
        yield scripted


def client_for(peer: ScriptedPeer, max_retries: int = 0) -> HttpBrokerageClient:
    return HttpBrokerageClient(peer.base_url + PATH, max_retries=max_retries, backoff=0)


@pytest.fixture
def client(peer: ScriptedPeer) -> Iterator[HttpBrokerageClient]:
    with client_for(peer) as http_client:
        yield http_client


def poll_answer(peer: ScriptedPeer, client: HttpBrokerageClient, body: Any) -> Any:
    peer.add("GET", f"{PATH}/B1", json_body=body)
    return client.poll_order_status("B1")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({}, "no order 'id'"),
        ({"id": True, "status": "new"}, "no order 'id'"),
        ({"id": "B1"}, "unknown order status None"),
        ({"id": "B1", "status": 3}, "unknown order status 3"),
        ({**ORDER, "filled_quantity": "lots"}, "'filled_quantity' = 'lots' is not a number"),
        ({**ORDER, "average_price": []}, "'average_price'"),
        ({**ORDER, "client_order_id": 7}, "client_order_id 7"),
        ([ORDER], "not a JSON object"),
    ],
)
def test_unusable_answers_are_protocol_errors(
    peer: ScriptedPeer, client: HttpBrokerageClient, body: Any, match: str
) -> None:
    with pytest.raises(VenueProtocolError, match=match):
        poll_answer(peer, client, body)


def test_a_broker_that_does_not_echo_the_client_id(
    peer: ScriptedPeer, client: HttpBrokerageClient
) -> None:
    peer.add("POST", PATH, json_body={"id": 42, "status": "accepted"}, status=201)
    ack = client.post_order(market(client_order_id="mine"))
    assert (ack.id, ack.client_order_id, ack.status) == ("42", "mine", OrderStatus.NEW)


def test_an_answer_for_another_order_is_never_taken_as_ours(peer: ScriptedPeer) -> None:
    client = client_for(peer, max_retries=1)
    other = {**ORDER, "client_order_id": "someone-else"}
    peer.add("POST", PATH, json_body=other, status=201)
    peer.add("GET", f"{PATH}/mine", json_body=other)
    with pytest.raises(VenueProtocolError, match="'someone-else', expected 'mine'"):
        client.post_order(market(client_order_id="mine"))


def test_redirects_are_not_followed(peer: ScriptedPeer, client: HttpBrokerageClient) -> None:
    peer.add("POST", PATH, status=302, headers={"Location": "http://elsewhere.test/orders"})
    with pytest.raises(VenueProtocolError, match=r"elsewhere\.test"):
        client.post_order(market())
    assert len(peer.calls) == 1


def test_408_is_retried_as_not_sent(peer: ScriptedPeer) -> None:
    client = client_for(peer, max_retries=1)
    peer.add("POST", PATH, status=408, json_body={"error": "request timeout"})
    peer.add("POST", PATH, status=201, json_body={**ORDER, "client_order_id": "t408"})
    assert client.post_order(market(client_order_id="t408")).id == "B1"
    assert [c.method for c in peer.calls] == ["POST", "POST"]


def test_error_text_falls_back_to_the_body(peer: ScriptedPeer, client: HttpBrokerageClient) -> None:
    peer.add("POST", PATH, status=400, text="symbol halted", headers={"Content-Type": "text/plain"})
    with pytest.raises(OrderRejected, match="HTTP 400: symbol halted"):
        client.post_order(market())


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), (" 0.5 ", 0.5), ("-3", 0.0), ("soon", None), (None, None), ("nan", None)],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value) == expected


def test_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    seconds = retry_after_seconds(format_datetime(when, usegmt=True))
    assert seconds is not None and 25 < seconds <= 30
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert retry_after_seconds(past) == 0.0


def _refused() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/api/orders", reason))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "ambiguous"),
    [
        (requests.ConnectTimeout("connect timed out"), False),
        (_refused(), False),
        (requests.ReadTimeout("read timed out"), True),
        (requests.ConnectionError(ProtocolError("aborted", ConnectionResetError(104))), True),
        (requests.exceptions.ChunkedEncodingError("broken body"), True),
    ],
)
def test_only_failures_before_sending_are_unambiguous(
    exc: requests.RequestException, ambiguous: bool
) -> None:
    assert transport_error("POST x", exc).ambiguous is ambiguous


def test_ambiguous_failure_with_lookup_failing_is_unknown(peer: ScriptedPeer) -> None:
    # The peer drops the connection after reading each request: it may have acted.
    client = client_for(peer, max_retries=1)
    peer.add("POST", PATH, drop=True, repeat=True)
    peer.add("GET", f"{PATH}/lost", drop=True, repeat=True)
    with pytest.raises(OrderStatusUnknown) as info:
        client.post_order(market(client_order_id="lost"))
    assert info.value.client_order_id == "lost"
    assert not isinstance(info.value, TransientError)
