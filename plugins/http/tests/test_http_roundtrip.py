"""The seed's HTTP brokerage against the real reference broker on loopback."""

from __future__ import annotations

from decimal import Decimal

import pytest

from qmtl_core import (
    ConfigError,
    OrderStatus,
    OrderValidationError,
    Runner,
    TransientError,
    load_connectors,
    runtime,
)
from qmtl_core.registry import default_registry
from qmtl_plugin_http.client import HttpBrokerageClient, TradeExecutionService
from qmtl_plugin_http.server import BrokerServer

from .conftest import PRICE, limit, market


def test_post_poll_cancel_round_trip(broker: BrokerServer, client: HttpBrokerageClient) -> None:
    filled = client.post_order(market())
    assert filled["status"] is OrderStatus.FILLED
    assert filled["filled_quantity"] == Decimal("0.01")
    assert filled["average_price"] == Decimal(PRICE)

    resting = client.post_order(limit("BUY", 40000))
    assert resting.status is OrderStatus.NEW
    assert client.poll_order_status(resting).status is OrderStatus.NEW
    canceled = client.cancel_order(resting)
    assert canceled.status is OrderStatus.CANCELED
    assert canceled.id == resting.id
    assert broker.engine.get(resting.id).status is OrderStatus.CANCELED
    assert client.poll_order_status(resting.id).status is OrderStatus.CANCELED
    assert broker.order_count == 2


def test_every_post_carries_client_order_id_as_idempotency_key(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    ack = client.post_order(market(client_order_id="strategy-7"))
    generated = client.post_order(market())
    keys = [seen.idempotency_key for seen in broker.seen("POST")]
    assert keys == ["strategy-7", generated.client_order_id]
    assert ack.client_order_id == "strategy-7"
    assert broker.engine.get(ack.id).client_order_id == "strategy-7"


def test_poll_by_broker_id_client_order_id_or_ack(client: HttpBrokerageClient) -> None:
    ack = client.post_order(limit("SELL", 60000, client_order_id="desk/a:1"))
    for ref in (ack, ack.id, "desk/a:1", {"id": ack.id}):
        polled = client.poll_order_status(ref)
        assert (polled.id, polled.client_order_id) == (ack.id, "desk/a:1")


def test_seed_names_resolve_from_qmtl_core(broker: BrokerServer) -> None:
    import qmtl_core

    assert qmtl_core.HttpBrokerageClient is HttpBrokerageClient
    assert qmtl_core.TradeExecutionService is TradeExecutionService
    svc = qmtl_core.TradeExecutionService(broker.url, max_retries=3)
    assert svc.post_order(market()).status is OrderStatus.FILLED
    assert svc.capabilities.oco.value == "manual"
    assert issubclass(HttpBrokerageClient, TradeExecutionService)


def test_registry_builds_the_http_connector_with_its_options(broker: BrokerServer) -> None:
    client = default_registry().create(
        "brokerage", "http", url=broker.url, max_retries=2, backoff=0.05
    )
    assert isinstance(client, HttpBrokerageClient)
    assert (client.retry_policy.max_retries, client.retry_policy.backoff) == (2, 0.05)
    assert client.post_order(market()).status is OrderStatus.FILLED
    with pytest.raises(ConfigError, match="url"):
        default_registry().create("brokerage", "http", max_retries=2)


@pytest.mark.parametrize(
    "url", ["broker/api/orders", "ftp://broker/orders", "", "https://broker/api/orders?key=1"]
)
def test_bad_url_is_a_config_error_naming_url(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        HttpBrokerageClient(url)
    assert info.value.key == "url"


def test_bad_retry_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="max_retries"):
        HttpBrokerageClient("http://127.0.0.1:9/api/orders", max_retries=-1)
    with pytest.raises(ConfigError, match="backoff"):
        HttpBrokerageClient("http://127.0.0.1:9/api/orders", backoff=float("nan"))


def test_seed_flat_config_builds_a_live_http_client(broker: BrokerServer) -> None:
    connectors = load_connectors(
        {
            "connectors": {
                "execution_domain": "live",
                "broker_url": broker.url,
                "trade_max_retries": 2,
                "trade_backoff": 0.05,
            }
        }
    )
    client = connectors.brokerage
    assert isinstance(client, HttpBrokerageClient)
    assert client.retry_policy.max_retries == 2
    assert client.post_order(market()).status is OrderStatus.FILLED
    assert broker.order_count == 1


def test_runner_routes_orders_to_the_service(broker: BrokerServer) -> None:
    Runner.reset()
    try:
        Runner.set_trade_execution_service(TradeExecutionService(broker.url, max_retries=3))
        first = Runner.submit_order(market(client_order_id="runner-1"))
        again = Runner.submit_order(market(client_order_id="runner-1"))
    finally:
        Runner.reset()
    assert first.sent and first.ack is not None
    assert first.ack.status is OrderStatus.FILLED
    assert again.outcome == "duplicate"
    assert broker.order_count == 1


def test_invalid_orders_never_leave_the_process(
    broker: BrokerServer, client: HttpBrokerageClient
) -> None:
    with pytest.raises(OrderValidationError, match="quantity"):
        client.post_order(market(quantity="-1"))
    with pytest.raises(OrderValidationError, match="limit_price"):
        client.post_order({"symbol": "BTC/USDT", "side": "BUY", "type": "limit", "quantity": 1})
    with pytest.raises(OrderValidationError, match="futures-only"):
        client.post_order(market(reduce_only=True))
    assert broker.seen() == []


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_poll_and_cancel_use_the_runtime_timeout_at_call_time(
    broker: BrokerServer, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    client = HttpBrokerageClient(broker.url, max_retries=0)
    late, in_time = (client.post_order(limit("BUY", 40000)) for _ in range(2))
    call = client.poll_order_status if method == "GET" else client.cancel_order

    monkeypatch.setattr(runtime, "HTTP_TIMEOUT_SECONDS", 0.2)
    broker.faults.stall_next(seconds=0.6, method=method, accept=False)
    with pytest.raises(TransientError, match=r"no answer within 0\.2s"):
        call(late)

    monkeypatch.setattr(runtime, "HTTP_TIMEOUT_SECONDS", 2.0)
    broker.faults.stall_next(seconds=0.3, method=method)
    assert call(in_time).id == in_time.id  # 0.3 s late is within the 2 s now in force


def test_post_uses_the_runtime_timeout_at_call_time(
    broker: BrokerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = HttpBrokerageClient(broker.url, max_retries=0, backoff=0.01)
    monkeypatch.setattr(runtime, "HTTP_TIMEOUT_SECONDS", 0.2)
    broker.faults.stall_next(seconds=0.6, method="POST", accept=True)
    ack = client.post_order(market())
    # The 0.2 s timeout fired, so the client looked the order up instead of re-sending.
    assert [r.method for r in broker.seen()] == ["POST", "GET"]
    assert broker.order_count == 1
    assert ack.status is OrderStatus.FILLED


def test_proxy_environment_is_read_once_when_the_client_is_built(
    broker: BrokerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("no_proxy", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    # The reference broker plays the proxy: it serves the absolute-URI request it gets.
    monkeypatch.setenv("http_proxy", broker.base_url)
    client = HttpBrokerageClient("http://broker.invalid/api/orders", max_retries=0)
    monkeypatch.delenv("http_proxy")
    assert client.post_order(market()).status is OrderStatus.FILLED
    assert broker.order_count == 1
