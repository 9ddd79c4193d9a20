"""Docs stay true: every hook is documented, and every Python block in docs/ runs."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest

from qmtl_core import Runner, hookspecs
from qmtl_plugin_ccxt_futures.recorded import binance_spot_and_usdm
from qmtl_plugin_http.server import BrokerServer
from qmtl_plugin_websocket.gateway import Gateway

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def hook_names() -> list[str]:
    return [
        name
        for name, obj in vars(hookspecs).items()
        if callable(obj) and hasattr(obj, f"{hookspecs.PROJECT}_spec")
    ]


def test_every_hook_has_a_section_with_a_runnable_example() -> None:
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, re.DOTALL | re.MULTILINE))
    assert hook_names(), "no hookspecs found"
    for name in hook_names():
        assert name in sections, f"hook {name} is not documented in docs/hooks.md"
        assert "```python" in sections[name], f"hook {name} has no runnable example"


# The seed's placeholders, served by loopback peers and recorded venues in the tests.
BROKER_URL = "https://broker/api/orders"
GATEWAY_URL = "wss://gateway/ws"
GATEWAY_TOKEN = "<jwt>"
TESTNET_KEY, TESTNET_SECRET = "<TESTNET_KEY>", "<TESTNET_SECRET>"


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerServer]:
    with BrokerServer(prices={"BTC/USDT": 50000}) as server:
        yield server


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with Gateway(token=GATEWAY_TOKEN) as server:
        yield server


def venue_for(block: str) -> AbstractContextManager[object]:
    """Recorded Binance answers for blocks that trade through ccxt with testnet keys."""
    if TESTNET_KEY in block:
        return binance_spot_and_usdm(api_key=TESTNET_KEY, secret=TESTNET_SECRET)
    return nullcontext()


@pytest.mark.parametrize("doc", sorted(p.name for p in DOCS.glob("*.md")))
def test_python_blocks_run(doc: str, broker: BrokerServer, gateway: Gateway) -> None:
    namespace: dict[str, object] = {"__name__": f"docs.{doc}"}
    Runner.reset()
    try:
        for number, block in enumerate(python_blocks(DOCS / doc), 1):
            code = block.replace(BROKER_URL, broker.url).replace(GATEWAY_URL, gateway.url)
            compiled = compile(
                code, f"docs/{doc} (python block {number})", "exec", dont_inherit=True
            )
            with venue_for(block):
                exec(compiled, namespace)  # running our own documentation is the point
    finally:
        Runner.reset()


def project_plugins() -> str:
    """The entry-point names of the plugins this repository ships (plugins/*/pyproject.toml)."""
    names = []
    for pyproject in sorted((DOCS.parent / "plugins").glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        names += project.get("entry-points", {}).get("qmtl.connectors", {})
    return ",".join(names)


def test_configuration_reference_is_current() -> None:
    from qmtl_core.config_reference import render
    from qmtl_core.plugins import make_plugin_manager
    from qmtl_core.registry import Registry

    registry = Registry(make_plugin_manager(env={"QMTL_LOAD_PLUGINS": project_plugins()}))
    expected = render(registry)
    current = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert current == expected, "docs/configuration.md is stale: regenerate it with `make docs`"
    for spec in registry.connectors():
        for option in spec.options:
            assert f"`{option.name}`" in current
