"""The bearer token and URL passwords never show in a repr, a log line, an error or a dump."""

from __future__ import annotations

import logging

import pytest

from qmtl_core import AuthenticationError, OrderStatusUnknown, TransientError, load_connectors
from qmtl_core.redaction import Secret
from qmtl_core.registry import default_registry
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.server import BrokerServer

from .conftest import market

TOKEN = "tok-5ecr3t-value"


def test_token_is_sent_but_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.DEBUG),
        BrokerServer(prices={"BTC/USDT": 50000}, token=TOKEN) as broker,
    ):
        client = default_registry().create(
            "brokerage", "http", url=broker.url, token=TOKEN, backoff=0.01
        )
        assert client.post_order(market()).status.value == "filled"
        broker.faults.fail_next(20, 500, accept=True)
        with pytest.raises(OrderStatusUnknown) as unknown:
            client.post_order(market())
        broker.faults.clear()
        with pytest.raises(AuthenticationError) as refused:
            HttpBrokerageClient(broker.url, token="wrong-" + TOKEN).post_order(market())
    shown = [repr(client), str(client), str(unknown.value), str(refused.value), caplog.text]
    assert "token=***" in repr(client)
    assert all(TOKEN not in text for text in shown)


def test_token_option_reaches_the_factory_wrapped() -> None:
    checked = default_registry().validate(
        "brokerage", "http", {"url": "http://127.0.0.1:9/api/orders", "token": TOKEN}
    )
    assert isinstance(checked.token, Secret)
    config = load_connectors(
        {
            "connectors": {
                "execution_domain": "live",
                "brokerage": {"name": "http", "url": "http://127.0.0.1:9/o", "token": TOKEN},
            }
        }
    )
    assert TOKEN not in repr(config) and TOKEN not in str(config.config.dump())


def test_url_password_is_masked_in_repr_and_errors(caplog: pytest.LogCaptureFixture) -> None:
    with BrokerServer() as gone:
        port = gone.port
    url = f"http://trader:pw-{TOKEN}@127.0.0.1:{port}/api/orders"
    client = HttpBrokerageClient(url, max_retries=1, backoff=0.01)
    with caplog.at_level(logging.DEBUG), pytest.raises(TransientError) as info:
        client.post_order(market())
    assert "trader:***@127.0.0.1" in repr(client)
    assert all(TOKEN not in text for text in (repr(client), str(info.value), caplog.text))
