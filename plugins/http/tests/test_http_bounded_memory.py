"""A long run through the HTTP client retains nothing per order once its caches are full.

The reference broker runs in its own process (``serve-broker``), so only the client's
memory is measured.
"""

from __future__ import annotations

import queue
import subprocess

import pytest

from qmtl_core import runtime
from qmtl_core.testing.memory import retained_bytes_per_order
from qmtl_plugin_http.client import HttpBrokerageClient

from .conftest import market

CAP = 200


def test_the_http_client_stays_bounded(
    served: tuple[subprocess.Popen[str], queue.Queue[str], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime, "MAX_COMPLETED_ORDERS", CAP)
    _, lines, port = served
    url = f"http://127.0.0.1:{port}/api/orders"
    assert lines.get(timeout=30) == f"reference broker: orders at {url}"
    with HttpBrokerageClient(url) as client:
        per_order = retained_bytes_per_order(
            lambda i: client.post_order(market(client_order_id=f"long-{i}")),
            cap=CAP,
            orders=1_000,
        )
    assert per_order < 16  # ~700 bytes per order without the cap
