"""Fixtures: a real reference broker on a free loopback port and a real client for it."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qmtl_core import runtime
from qmtl_core.testing.redis_server import free_port
from qmtl_plugin_http.client import HttpBrokerageClient
from qmtl_plugin_http.server import BrokerServer

CLI = Path(sys.executable).with_name("qmtl-connectors")
SYMBOL = "BTC/USDT"
PRICE = 50000


def market(side: str = "BUY", quantity: str = "0.01", **extra: Any) -> dict[str, Any]:
    return {"symbol": SYMBOL, "side": side, "type": "market", "quantity": quantity, **extra}


def limit(side: str, price: float, quantity: str = "0.01", **extra: Any) -> dict[str, Any]:
    return {
        "symbol": SYMBOL,
        "side": side,
        "type": "limit",
        "quantity": quantity,
        "limit_price": price,
        **extra,
    }


@pytest.fixture
def broker() -> Iterator[BrokerServer]:
    with BrokerServer(prices={SYMBOL: PRICE}) as server:
        yield server


@pytest.fixture
def client(broker: BrokerServer) -> Iterator[HttpBrokerageClient]:
    with HttpBrokerageClient(broker.url, max_retries=3, backoff=0.01) as http_client:
        yield http_client


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    """Client timeout of 0.25 s, so stall faults cost little test time."""
    monkeypatch.setattr(runtime, "HTTP_TIMEOUT_SECONDS", 0.25)
    return 0.25


def lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's stdout, line by line, readable with a timeout."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str], int]]:
    """``qmtl-connectors serve-broker`` in its own process: (process, stdout lines, port)."""
    port = free_port()
    proc = subprocess.Popen(
        [str(CLI), "serve-broker", "--port", str(port), "--price", "BTC/USDT=50000"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, lines_of(proc), port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
