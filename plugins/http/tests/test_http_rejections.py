"""4xx answers are final: one attempt, a typed error carrying the broker's message."""

from __future__ import annotations

import pytest

from qmtl_core import (
    AuthenticationError,
    OrderNotCancelable,
    OrderNotFound,
    OrderRejected,
    OrderStatus,
    Runner,
    TransientError,
)
from qmtl_core.errors import BrokerageError, RequestNotSent
from qmtl_core.testing import EventRecorder
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.server import BrokerServer

from .conftest import market


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, OrderRejected),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, OrderNotFound),
        (409, OrderRejected),
        (422, OrderRejected),
    ],
)
def test_4xx_is_not_retried_and_carries_the_broker_message(
    broker: BrokerServer,
    client: HttpBrokerageClient,
    status: int,
    error: type[BrokerageError],
) -> None:
    message = f"desk closed for BTC/USDT ({status})"
    broker.faults.fail_next(1, status, method="POST", message=message)
    with pytest.raises(error) as info:
        client.post_order(market())
    assert not isinstance(info.value, TransientError)
    assert message in str(info.value)
    assert f"HTTP {status}" in str(info.value)
    if isinstance(info.value, OrderRejected):
        assert info.value.status_code == status
    assert [r.method for r in broker.seen()] == ["POST"]
    assert broker.order_count == 0


def test_reused_client_order_id_for_another_order_is_a_422(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    client.post_order(market(client_order_id="dup-1"))
    with pytest.raises(OrderRejected, match="already used for a different order") as info:
        client.post_order(market(quantity="0.02", client_order_id="dup-1"))
    assert info.value.status_code == 422
    assert broker.order_count == 1


def test_wrong_token_is_an_authentication_error() -> None:
    with BrokerServer(prices={"BTC/USDT": 50000}, token="desk-token") as broker:
        anonymous = HttpBrokerageClient(broker.url)
        with pytest.raises(AuthenticationError, match="HTTP 401: missing or invalid bearer token"):
            anonymous.post_order(market())
        wrong = HttpBrokerageClient(broker.url, token="guess")
        with pytest.raises(AuthenticationError):
            wrong.poll_order_status("anything")
        good = HttpBrokerageClient(broker.url, token="desk-token")
        assert good.post_order(market()).status is OrderStatus.FILLED
        assert len(broker.seen("POST")) == 2
        assert broker.order_count == 1


def test_unknown_order_is_order_not_found(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    with pytest.raises(OrderNotFound, match="no order with id or client_order_id 'nope'"):
        client.poll_order_status("nope")
    with pytest.raises(OrderNotFound):
        client.cancel_order("nope")
    assert len(broker.seen()) == 2


def test_cancel_of_a_filled_order_is_not_cancelable(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    ack = client.post_order(market())
    with pytest.raises(OrderNotCancelable) as info:
        client.cancel_order(ack)
    assert (info.value.order_id, info.value.status) == (ack.id, "filled")
    assert len(broker.seen("DELETE")) == 1


def test_runner_lets_an_order_refused_for_credentials_go_again() -> None:
    order = market(client_order_id="after-login")
    with BrokerServer(prices={"BTC/USDT": 50000}, token="desk-token") as broker:
        Runner.reset()
        try:
            Runner.set_trade_execution_service(HttpBrokerageClient(broker.url))
            with pytest.raises(AuthenticationError):
                Runner.submit_order(order)
            Runner.set_trade_execution_service(HttpBrokerageClient(broker.url, token="desk-token"))
            result = Runner.submit_order(order)
        finally:
            Runner.reset()
        assert result.outcome == "sent"
        assert broker.order_count == 1


def test_a_request_the_transport_refuses_to_build_is_not_sent_and_not_retried(
    broker: BrokerServer, qmtl_events: EventRecorder
) -> None:
    # A header with a line break (here in a token pasted with its newline) is refused by
    # requests while building the request: nothing can have reached the broker.
    client = HttpBrokerageClient(broker.url, max_retries=3, backoff=0.01, token="tok\n")
    Runner.reset()
    Runner.set_trade_execution_service(client)
    order = market(client_order_id="local-1", timestamp=1.0)
    with pytest.raises(RequestNotSent, match="cannot build the request"):
        Runner.submit_order(order)
    assert broker.seen("POST") == []
    assert qmtl_events.kinds("local-1") == ["validated", "sent", "rejected"]
    # Not blocked as "maybe sent": fixed, the same order goes.
    Runner.set_trade_execution_service(HttpBrokerageClient(broker.url))
    assert Runner.submit_order(order).sent
    assert broker.order_count == 1
    Runner.reset()
