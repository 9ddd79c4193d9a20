"""The reference broker itself, over plain HTTP: idempotency keys, admin routes, lifecycle."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from qmtl_core import OrderStatus, TransientError, runtime
from qmtl_core.testing import wait_until as wait_for
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.faults import Fault
from qmtl_plugin_http.server import BrokerServer

from .conftest import PRICE, limit, market


def post(broker: BrokerServer, body: Any, key: str | None = None) -> requests.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return requests.post(broker.url, json=body, headers=headers, timeout=5)


def test_repeated_key_returns_the_original_order(broker: BrokerServer) -> None:
    first = post(broker, market(client_order_id="k1"), "k1")
    again = post(broker, market(client_order_id="k1"), "k1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert broker.order_count == 1


def test_same_key_with_a_different_body_is_a_422(broker: BrokerServer) -> None:
    post(broker, market(client_order_id="k2"), "k2")
    other = post(broker, market(quantity="5", client_order_id="k2"), "k2")
    assert other.status_code == 422
    assert "already used for a different order" in other.json()["error"]
    assert broker.order_count == 1


def test_key_is_the_client_order_id(broker: BrokerServer) -> None:
    placed = post(broker, market(), "from-header")
    assert placed.json()["client_order_id"] == "from-header"
    mismatch = post(broker, market(client_order_id="body-id"), "header-id")
    assert mismatch.status_code == 400
    assert "must equal the body's client_order_id" in mismatch.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        (market(quantity="0"), 400, "quantity"),
        ("not an object", 400, "JSON object"),
        (market(leverage=5), 400, "futures-only"),
    ],
)
def test_bad_orders_are_400_naming_the_field(
    broker: BrokerServer, body: Any, status: int, text: str
) -> None:
    answer = post(broker, body)
    assert answer.status_code == status
    assert text in answer.json()["error"]
    assert broker.order_count == 0


def test_body_that_is_not_json_is_a_400(broker: BrokerServer) -> None:
    answer = requests.post(broker.url, data=b"{nope", timeout=5)
    assert answer.status_code == 400
    assert "not valid JSON" in answer.json()["error"]


def test_unknown_routes_and_methods(broker: BrokerServer) -> None:
    assert requests.get(broker.url, timeout=5).status_code == 405
    assert requests.get(broker.base_url + "/elsewhere", timeout=5).status_code == 404
    assert requests.post(broker.base_url + "/admin/nothing", timeout=5).status_code == 404


def test_admin_price_over_http_fills_resting_orders(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    resting = client.post_order(limit("SELL", 52000))
    moved = requests.post(
        broker.base_url + "/admin/price", json={"symbol": "BTC/USDT", "price": 52500}, timeout=5
    )
    assert moved.json()["filled"] == [resting.id]
    assert client.poll_order_status(resting).status is OrderStatus.FILLED
    listed = requests.get(broker.base_url + "/admin/orders", timeout=5).json()
    assert listed["count"] == 1 and listed["orders"][0]["status"] == "filled"
    assert broker.set_price("BTC/USDT", PRICE) == []


def test_admin_faults_over_http(broker: BrokerServer, client: HttpBrokerageClient) -> None:
    added = requests.post(
        broker.base_url + "/admin/faults",
        json={"kind": "status", "status": 503, "times": 2, "method": "POST"},
        timeout=5,
    )
    assert added.json() == {"pending": 2}
    assert client.post_order(market()).status is OrderStatus.FILLED
    assert broker.order_count == 1 and broker.faults.pending() == 0
    bad = requests.post(broker.base_url + "/admin/faults", json={"kind": "boom"}, timeout=5)
    assert bad.status_code == 400 and "kind must be one of" in bad.json()["error"]
    requests.post(broker.base_url + "/admin/faults", json={"kind": "reset"}, timeout=5)
    assert requests.delete(broker.base_url + "/admin/faults", timeout=5).json() == {"pending": 0}


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"kind": "status", "status": 99}, "status must be"),
        ({"kind": "status", "colour": "red"}, "unknown fault field"),
        ({"kind": "stall", "seconds": -1}, "seconds must be"),
        ({"kind": "bad_status"}, "needs accept=True"),
        ({"kind": "reset", "method": "PATCH"}, "method must be"),
        ({"status": 500}, "'kind' is required"),
    ],
)
def test_fault_fields_are_checked(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Fault.from_json(fields)


def test_stop_ends_a_stalled_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "HTTP_TIMEOUT_SECONDS", 60.0)
    broker = BrokerServer(prices={"BTC/USDT": PRICE}).start()
    client = HttpBrokerageClient(broker.url, max_retries=0)
    ack = client.post_order(limit("BUY", 40000))
    broker.faults.stall_next(seconds=60, method="GET")
    outcome: list[BaseException | str] = []

    def poll() -> None:
        try:
            outcome.append(client.poll_order_status(ack).status.value)
        except TransientError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=poll)
    waiter.start()
    wait_for(lambda: bool(broker.seen("GET")))  # the GET has arrived and is stalled
    broker.stop()
    waiter.join(10)
    assert not waiter.is_alive()
    assert len(outcome) == 1


def test_port_and_urls(broker: BrokerServer) -> None:
    assert broker.url == f"http://127.0.0.1:{broker.port}/api/orders"
    with pytest.raises(RuntimeError, match="already running"):
        broker.start()
    with pytest.raises(RuntimeError, match="start"):
        _ = BrokerServer().url
