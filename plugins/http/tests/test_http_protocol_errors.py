"""Answers the client cannot interpret: a clear VenueProtocolError, never a bare KeyError."""

from __future__ import annotations

import pytest

from qmtl_core import OrderStatus, VenueProtocolError
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.server import BrokerServer

from .conftest import limit, market


def test_malformed_json_on_poll_is_a_protocol_error(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    ack = client.post_order(limit("BUY", 40000))
    broker.faults.malformed_next(1, method="GET")
    with pytest.raises(VenueProtocolError, match="not a JSON object"):
        client.poll_order_status(ack)


def test_unknown_status_on_poll_names_the_value(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    ack = client.post_order(limit("BUY", 40000))
    broker.faults.bad_status_next(1, "on_hold", method="GET")
    with pytest.raises(VenueProtocolError, match="unknown order status 'on_hold'") as info:
        client.poll_order_status(ack)
    assert "partially_filled" in str(info.value)  # says what would have been understood


def test_unknown_status_once_on_post_is_read_back(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    broker.faults.bad_status_next(1, "on_hold", method="POST")
    ack = client.post_order(market())
    assert ack.status is OrderStatus.FILLED
    assert broker.order_count == 1


def test_unknown_status_everywhere_fails_clearly_without_duplicates(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    broker.faults.bad_status_next(10, "held_for_review")
    with pytest.raises(VenueProtocolError, match="'held_for_review'"):
        client.post_order(market())
    assert broker.order_count == 1
    assert len(broker.seen("POST")) == 1


def test_status_aliases_map_onto_the_core_vocabulary(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    ack = client.post_order(limit("BUY", 40000))
    broker.faults.bad_status_next(1, "cancelled", method="GET")
    assert client.poll_order_status(ack).status is OrderStatus.CANCELED
    broker.faults.bad_status_next(1, "OPEN", method="GET")
    assert client.poll_order_status(ack).status is OrderStatus.NEW
