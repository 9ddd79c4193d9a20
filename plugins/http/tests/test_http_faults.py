"""Every injected fault: the outcome a user expects, and never a duplicate order.

Each test counts the orders the broker holds: one order asked for, at most one held.
"""

from __future__ import annotations

import logging

import pytest

from qmtl_core import OrderNotCancelable, OrderStatus, OrderStatusUnknown, TransientError
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.server import BrokerServer

from .conftest import limit, market


def methods(broker: BrokerServer) -> list[str]:
    return [r.method for r in broker.seen()]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_before_acting_is_retried_with_a_lookup_first(
    broker: BrokerServer, client: HttpBrokerageClient, status: int
) -> None:
    broker.faults.fail_next(2, status, method="POST")
    ack = client.post_order(market(client_order_id="five-xx"))
    assert ack.status is OrderStatus.FILLED
    # A 5xx is ambiguous: before each re-send the client asked whether the broker has it.
    assert methods(broker) == ["POST", "GET", "POST", "GET", "POST"]
    assert {r.idempotency_key for r in broker.seen("POST")} == {"five-xx"}
    assert broker.order_count == 1


def test_5xx_after_acting_returns_the_placed_order_without_resending(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    broker.faults.fail_next(1, 502, method="POST", accept=True)
    ack = client.post_order(market())
    assert ack.status is OrderStatus.FILLED
    assert methods(broker) == ["POST", "GET"]
    assert broker.order_count == 1
    assert broker.orders()[0].id == ack.id


def test_429_waits_at_least_retry_after_and_resends(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    broker.faults.rate_limit_next(1, retry_after=1, method="POST")
    ack = client.post_order(market())
    first, second = broker.seen("POST")
    assert second.at - first.at >= 1.0
    assert methods(broker) == ["POST", "POST"]  # a 429 is not ambiguous: no lookup
    assert ack.status is OrderStatus.FILLED
    assert broker.order_count == 1


def test_503_retry_after_is_honoured_and_still_looked_up(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    broker.faults.fail_next(1, 503, method="POST", accept=True, retry_after=0.5)
    ack = client.post_order(market())
    post, lookup = broker.seen()
    assert (post.method, lookup.method) == ("POST", "GET")
    assert lookup.at - post.at >= 0.5
    assert broker.order_count == 1
    assert broker.orders()[0].id == ack.id


def test_accepted_then_stalled_past_the_timeout_is_found_not_resent(
    broker: BrokerServer, client: HttpBrokerageClient, short_timeout: float
) -> None:
    broker.faults.stall_next(seconds=1.0, method="POST", accept=True)
    ack = client.post_order(market())
    assert ack.status is OrderStatus.FILLED
    assert methods(broker) == ["POST", "GET"]
    assert broker.order_count == 1


def test_request_stuck_in_a_queue_then_processed_late_is_not_duplicated(
    broker: BrokerServer, client: HttpBrokerageClient, short_timeout: float
) -> None:
    broker.faults.stall_next(seconds=0.5, method="POST", accept=False)
    ack = client.post_order(market(client_order_id="late-one"))
    # The lookup found nothing, so the client re-sent; the stuck first POST is applied
    # later with the same key and must land on the same order.
    assert methods(broker)[:3] == ["POST", "GET", "POST"]
    broker.stop()  # wakes the stalled handler, which applies the first POST now
    assert broker.order_count == 1
    assert broker.engine.find("late-one") is not None
    assert broker.orders()[0].id == ack.id


@pytest.mark.parametrize("accept", [False, True], ids=["before-acting", "after-acting"])
def test_connection_reset_never_duplicates(
    broker: BrokerServer, client: HttpBrokerageClient, accept: bool
) -> None:
    broker.faults.reset_next(1, method="POST", accept=accept)
    ack = client.post_order(market())
    assert ack.status is OrderStatus.FILLED
    expected = ["POST", "GET"] if accept else ["POST", "GET", "POST"]
    assert methods(broker) == expected
    assert broker.order_count == 1


def test_malformed_answer_to_an_accepted_post_is_read_back(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    broker.faults.malformed_next(1, method="POST")
    ack = client.post_order(market())
    assert ack.status is OrderStatus.FILLED
    assert methods(broker) == ["POST", "GET"]
    assert broker.order_count == 1


def test_unknown_outcome_raises_order_status_unknown_never_rejected(
    broker: BrokerServer, client: HttpBrokerageClient, caplog: pytest.LogCaptureFixture
) -> None:
    broker.faults.fail_next(20, 500, accept=True)
    with (
        caplog.at_level(logging.INFO, "qmtl_core.events"),
        pytest.raises(OrderStatusUnknown) as info,
    ):
        client.post_order(market(client_order_id="who-knows"))
    assert info.value.client_order_id == "who-knows"
    assert broker.order_count == 1
    assert len(broker.seen("POST")) == 1  # never re-sent while the outcome was unknown
    kinds = [r.getMessage().split()[1] for r in caplog.records]
    assert "kind=unknown" in kinds and "kind=rejected" not in kinds


def test_reset_on_every_attempt_is_unknown_not_failed(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    broker.faults.reset_next(20)
    with pytest.raises(OrderStatusUnknown):
        client.post_order(market())
    assert broker.order_count == 0


def test_connection_refused_is_a_plain_transient_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with BrokerServer() as gone:
        url = gone.url
    client = HttpBrokerageClient(url, max_retries=2, backoff=0.01)
    with caplog.at_level(logging.INFO, "qmtl_core.events"), pytest.raises(TransientError) as info:
        client.post_order(market())
    assert not isinstance(info.value, OrderStatusUnknown)
    assert info.value.ambiguous is False
    assert "could not connect" in str(info.value)
    assert sum("kind=retried" in r.getMessage() for r in caplog.records) == 2


def test_poll_and_cancel_retry_transient_failures(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    ack = client.post_order(limit("BUY", 40000))
    broker.faults.fail_next(2, 503, method="GET")
    assert client.poll_order_status(ack).status is OrderStatus.NEW
    broker.faults.reset_next(1, method="DELETE")
    assert client.cancel_order(ack).status is OrderStatus.CANCELED
    assert methods(broker) == ["POST", "GET", "GET", "GET", "DELETE", "DELETE"]


def test_fault_plan_only_hits_the_method_it_names(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    broker.faults.fail_next(1, 500, method="DELETE")
    ack = client.post_order(limit("BUY", 40000))
    assert client.poll_order_status(ack).status is OrderStatus.NEW
    assert broker.faults.pending() == 1


def test_cancel_whose_answer_was_lost_reports_the_cancel(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    ack = client.post_order(limit("BUY", 40000))
    broker.faults.reset_next(1, method="DELETE", accept=True)
    canceled = client.cancel_order(ack)
    assert canceled.status is OrderStatus.CANCELED
    # The retried DELETE found it canceled (409) and read the order back.
    assert methods(broker) == ["POST", "DELETE", "DELETE", "GET"]
    with pytest.raises(OrderNotCancelable, match="already canceled"):
        client.cancel_order(ack)  # a fresh cancel of a canceled order is still an error
