"""The python examples of docs/http-broker-protocol.md run against the reference broker."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qmtl_core import Runner
from qmtl_plugin_http.server import BrokerServer

DOC = Path(__file__).resolve().parents[3] / "docs" / "http-broker-protocol.md"
PLACEHOLDER = "https://broker/api/orders"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_doc_example_runs(code: str, broker: BrokerServer) -> None:
    Runner.reset()
    try:
        exec(compile(code.replace(PLACEHOLDER, broker.url), str(DOC), "exec"), {})
    finally:
        Runner.reset()
    assert PLACEHOLDER not in code or broker.seen("POST")


def test_doc_has_examples() -> None:
    assert len(BLOCKS) >= 4
