"""``qmtl-connectors serve-broker`` in a real subprocess, and cheap plugin registration."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys

import pytest
import requests

from qmtl_core import OrderStatus
from qmtl_plugin_http.client import HttpBrokerageClient

from .conftest import CLI, limit


def test_serve_broker_serves_orders_until_sigterm(
    served: tuple[subprocess.Popen[str], queue.Queue[str], int],
) -> None:
    proc, lines, port = served
    url = f"http://127.0.0.1:{port}/api/orders"
    assert lines.get(timeout=30) == f"reference broker: orders at {url}"

    client = HttpBrokerageClient(url, backoff=0.01)
    ack = client.post_order(limit("SELL", 51000))
    assert ack.status is OrderStatus.NEW
    base = f"http://127.0.0.1:{port}"
    requests.post(f"{base}/admin/faults", json={"kind": "reset", "method": "GET"}, timeout=5)
    requests.post(f"{base}/admin/price", json={"symbol": "BTC/USDT", "price": 51500}, timeout=5)
    assert client.poll_order_status(ack).status is OrderStatus.FILLED
    assert requests.get(f"{base}/admin/orders", timeout=5).json()["count"] == 1

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert "reference broker: stopped" in list(lines.queue)


@pytest.mark.parametrize("price", ["BTC/USDT", "BTC/USDT=abc", "BTC/USDT=-5", "=50000"])
def test_serve_broker_rejects_a_bad_price(price: str) -> None:
    done = subprocess.run(
        [str(CLI), "serve-broker", "--port", "0", "--price", price],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "expected SYMBOL=PRICE with a price > 0" in done.stderr


def test_serve_broker_on_a_busy_port_fails_cleanly() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [str(CLI), "serve-broker", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_listing_connectors_imports_no_http_library() -> None:
    code = (
        "import sys; from qmtl_core.registry import default_registry; "
        "specs = default_registry().connectors(); "
        "print([(s.name, s.oco) for s in specs]); "
        "print(sorted(m for m in ('requests', 'urllib3', 'qmtl_plugin_http.client') "
        "if m in sys.modules))"
    )
    env = {**os.environ, "QMTL_LOAD_PLUGINS": "http", "QMTL_STRICT_PLUGINS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[('http', 'manual')]", "[]"]


def test_serve_broker_token_is_required_on_order_requests() -> None:
    env = {**os.environ, "QMTL_BROKER_TOKEN": "t0ken-from-env"}
    with subprocess.Popen(
        [str(CLI), "serve-broker", "--port", "0", "--price", "BTC/USDT=50000"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().split()[-1]  # "reference broker: orders at <url>"
            assert proc.stdout.readline().startswith("order requests need 'Authorization")
            refused = requests.post(url, json=limit("SELL", 51000), timeout=5)
            assert refused.status_code == 401
            client = HttpBrokerageClient(url, token="t0ken-from-env", backoff=0.01)
            assert client.post_order(limit("SELL", 51000)).status is OrderStatus.NEW
        finally:
            proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=10)[0]
    assert "t0ken-from-env" not in rest
