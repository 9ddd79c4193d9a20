"""The ``websocket`` feed through the registry and qmtl.yml: lazy, validated, secrets wrapped."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import qmtl_core
from qmtl_core.config import load_connectors
from qmtl_core.errors import ConfigError, ConfigErrors, FeedError
from qmtl_core.registry import default_registry
from qmtl_core.testing import until
from qmtl_core.testing.scenarios import collect_messages as collector
from qmtl_core.testing.scenarios import run_with_deadline as run
from qmtl_plugin_websocket.client import WebSocketClient
from qmtl_plugin_websocket.feed import WebSocketFeed
from qmtl_plugin_websocket.gateway import Gateway

from .conftest import TOKEN

HEAVY = (
    "websocket",
    "websockets",
    "qmtl_plugin_websocket.client",
    "qmtl_plugin_websocket.feed",
    "qmtl_plugin_websocket.gateway",
)
SUBSCRIBE = {"op": "subscribe", "channel": "prices"}


def test_listing_connectors_and_building_the_cli_import_no_websocket_code() -> None:
    code = (
        "import json, sys\n"
        "from qmtl_core.cli import build_parser\n"
        "from qmtl_core.registry import default_registry\n"
        "registry = default_registry()\n"
        "names = [(s.kind, s.name) for s in registry.connectors()]\n"
        "build_parser(registry)\n"
        f"print(json.dumps([['feed', 'websocket'] in [list(n) for n in names],"
        f" [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    listed, imported = json.loads(done.stdout.splitlines()[-1])
    assert listed and imported == []


def test_the_public_names_resolve_from_the_package_root() -> None:
    assert qmtl_core.WebSocketFeed is WebSocketFeed
    assert qmtl_core.WebSocketClient is WebSocketClient


def test_the_registry_validates_options_and_passes_callbacks_through(gateway: Gateway) -> None:
    received, on_msg = collector()
    reconnects: list[int] = []

    async def on_reconnect() -> None:
        reconnects.append(1)

    async def scenario() -> None:
        feed = default_registry().create(
            "feed",
            "websocket",
            url=gateway.url,
            token=TOKEN,
            subscribe=[SUBSCRIBE],
            queue_size=10,
            max_retries=3,
            recv_timeout=5,  # an int where a float is expected is accepted
            on_message=on_msg,
            on_reconnect=on_reconnect,
        )
        assert isinstance(feed, WebSocketFeed) and feed.queue_size == 10
        async with feed:
            await until(lambda: received == [{"event": "subscribed", "channel": "prices"}])
            gateway.drop_connections()
            await until(lambda: reconnects == [1])
            # on_reconnect runs once the feed has sent the subscription again; the gateway
            # records it on its own thread a moment later: wait for that, do not race it.
            await until(lambda: len(gateway.subscriptions) >= 2, what="the re-subscription")

    run(scenario())
    assert gateway.subscriptions == [SUBSCRIBE, SUBSCRIBE]


def test_every_bad_option_is_reported_by_name_at_once() -> None:
    _, on_msg = collector()
    with pytest.raises(ConfigErrors) as info:
        default_registry().create(
            "feed", "websocket", url=5, queue_size="big", ping_interval="often", on_message=on_msg
        )
    assert {e.key for e in info.value.errors} == {"url", "queue_size", "ping_interval"}
    with pytest.raises(ConfigError, match="did you mean 'recv_timeout'"):
        default_registry().create(
            "feed", "websocket", url="ws://127.0.0.1:9/ws", recv_timout=1.0, on_message=on_msg
        )
    with pytest.raises(ConfigError, match="required option missing") as missing:
        default_registry().create("feed", "websocket", on_message=on_msg)
    assert missing.value.key == "url"


def test_a_live_qmtl_yml_builds_the_feed_and_never_shows_the_token(
    gateway: Gateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("QMTL_WS_TOKEN", TOKEN)
    config = tmp_path / "qmtl.yml"
    config.write_text(
        "connectors:\n"
        "  execution_domain: live\n"
        "  brokerage:\n"
        "    name: fake\n"
        "  feed:\n"
        "    name: websocket\n"
        f"    url: {gateway.url}\n"
        "    token: ${QMTL_WS_TOKEN}\n"
        "    subscribe:\n"
        "      - {op: subscribe, channel: prices}\n"
        "    recv_timeout: 10\n"
    )
    received, on_msg = collector()
    connectors = load_connectors(config)

    async def scenario() -> None:
        feed = connectors.feed(on_message=on_msg)
        assert isinstance(feed, WebSocketFeed)
        async with feed:
            await until(lambda: len(received) == 1)
            gateway.push_price("BTC/USDT", "50000")
            await until(lambda: len(received) == 2)

    run(scenario())
    assert received[1] == {"event": "price", "symbol": "BTC/USDT", "price": "50000"}
    dumped = json.dumps(connectors.config.dump())
    assert "'***'" in repr(connectors) and '"token": "***"' in dumped
    assert TOKEN not in repr(connectors) + dumped + caplog.text


def test_the_seed_flat_ws_url_key_builds_this_feed(gateway: Gateway) -> None:
    connectors = load_connectors(
        {"execution_domain": "live", "brokerage": {"name": "fake"}, "ws_url": gateway.url}
    )
    _, on_msg = collector()
    feed: Any = connectors.feed(on_message=on_msg)
    assert isinstance(feed, WebSocketFeed) and feed.url == gateway.url


def test_serve_gateway_command_serves_ticks_until_interrupted() -> None:
    cli = str(Path(sys.executable).with_name("qmtl-connectors"))
    env = {k: v for k, v in os.environ.items() if k != "QMTL_WS_TOKEN"}
    with subprocess.Popen(
        [cli, "serve-gateway", "--token", TOKEN, "--interval", "0.05"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as server:
        try:
            assert server.stdout is not None
            line = server.stdout.readline()  # printed as soon as the port is bound
            assert line.startswith("gateway listening on ws://127.0.0.1:")
            with WebSocketClient(line.split()[-1], token=TOKEN) as client:
                tick = json.loads(client.receive())
            assert tick["event"] == "price" and tick["symbol"] == "BTC/USDT"
        finally:
            server.send_signal(signal.SIGINT)
        assert server.wait(timeout=10) == 0


def test_serve_gateway_without_a_token_generates_one_and_prints_it() -> None:
    # `serve-gateway --help` promises "else a new one": the printed token is the one it wants.
    cli = str(Path(sys.executable).with_name("qmtl-connectors"))
    env = {k: v for k, v in os.environ.items() if k != "QMTL_WS_TOKEN"}
    with subprocess.Popen(
        [cli, "serve-gateway", "--interval", "0.05"], stdout=subprocess.PIPE, text=True, env=env
    ) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().split()[-1]
            token_line = server.stdout.readline()
            assert token_line.startswith("token (generated): ")
            token = token_line.split()[2]
            with WebSocketClient(url, token=token) as client:
                assert json.loads(client.receive())["event"] == "price"
            with pytest.raises(FeedError, match="check the token"):
                WebSocketClient(url, token="wrong").connect()
        finally:
            server.send_signal(signal.SIGINT)
        assert server.wait(timeout=10) == 0


def test_the_flat_ws_token_key_gives_the_seed_form_its_token(gateway: Gateway) -> None:
    connectors = load_connectors(
        {
            "execution_domain": "live",
            "brokerage": {"name": "fake"},
            "ws_url": gateway.url,
            "ws_token": TOKEN,
        }
    )
    assert TOKEN not in repr(connectors)
    received, on_msg = collector()

    async def scenario() -> None:
        async with connectors.feed(on_message=on_msg):
            gateway.wait_for_connections()
            gateway.push_price("BTC/USDT", "1")
            await until(lambda: len(received) == 1)

    run(scenario())
