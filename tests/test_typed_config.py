"""One typed config per connector: `check` refuses what building refuses, with file,
line and key; ${VAR} values take the option's type; the core knows no plugin by name;
events go through the registry that built the connector."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qmtl_core.cli import main
from qmtl_core.config import load_connectors, parse_connectors
from qmtl_core.errors import ConfigError
from qmtl_core.plugins import make_plugin_manager
from qmtl_core.registry import Registry
from qmtl_core.testing import record_events

MakeDist = Callable[..., None]
ORDER = {"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": "0.01"}


def check(tmp_path: Path, body: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "qmtl.yml"
    path.write_text("connectors:\n  execution_domain: live\n" + body)
    code = main(["check", str(path)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "line", "key", "says"),
    [
        (
            "  broker_url: http://127.0.0.1:9/o\n  ws_url: ws://127.0.0.1:9/ws\n"
            "  feed_placeholder: 1\n",
            5,
            "connectors.feed_placeholder",
            "unknown key",
        ),
        (
            "  broker_url: http://127.0.0.1:9/o\n  feed:\n    name: websocket\n"
            "    url: ws://127.0.0.1:9/ws\n    queue_size: 0\n",
            7,
            "connectors.feed.queue_size",
            "must be 1 or more, got 0",
        ),
        (
            "  broker_url: http://127.0.0.1:9/o\n  feed:\n    name: websocket\n"
            "    url: ws://127.0.0.1:9/ws\n    recv_timeout: -5\n",
            7,
            "connectors.feed.recv_timeout",
            "must be more than 0, got -5",
        ),
        (
            "  broker_url: http://127.0.0.1:9/o\n  feed:\n    name: websocket\n"
            "    url: ftp://127.0.0.1/ws\n",
            6,
            "connectors.feed.url",
            "expected a ws:// or wss:// URL",
        ),
        (
            "  broker_url: http://127.0.0.1:9/o\n  trade_max_retries: -2\n",
            4,
            "connectors.trade_max_retries",
            "must be 0 or more, got -2",
        ),
        (
            "  broker_url: 127.0.0.1:18080/api/orders\n",
            3,
            "connectors.broker_url",
            "expected a http:// or https:// URL",
        ),
        (
            "  brokerage:\n    name: ccxt\n    exchange: binanse\n",
            5,
            "connectors.brokerage.exchange",
            "did you mean 'binance'",
        ),
        (
            "  brokerage:\n    name: ccxt\n    exchange: binance\n    sandbx: true\n",
            6,
            "connectors.brokerage.sandbx",
            "did you mean 'sandbox'",
        ),
        (
            "  brokerage:\n    name: ccxt-futures\n    exchange: binanceusdm\n    leverage: 0\n",
            6,
            "connectors.brokerage.leverage",
            "must be 1 or more",
        ),
        (
            "  brokerage:\n    name: ccxt\n    exchange: binance\n    testnet: true\n"
            "    demo: true\n",
            7,
            "connectors.brokerage.demo",
            "choose one",
        ),
    ],
)
def test_check_refuses_what_building_refuses_with_file_line_and_key(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    body: str,
    line: int,
    key: str,
    says: str,
) -> None:
    code, err = check(tmp_path, body, capsys)
    assert code == 1
    assert f"qmtl.yml:{line}, key '{key}'" in err and says in err, err
    assert "Traceback" not in err


def test_a_config_check_passes_builds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = "  broker_url: http://127.0.0.1:9/o/\n  trade_max_retries: 0\n  ws_url: ws://h:1/ws\n"
    code, err = check(tmp_path, body, capsys)
    assert code == 0, err
    connectors = load_connectors(tmp_path / "qmtl.yml")
    assert connectors.brokerage.url == "http://127.0.0.1:9/o"
    assert connectors.brokerage.retry_policy.max_retries == 0


def test_numbers_and_booleans_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RETRIES", raising=False)
    monkeypatch.setenv("QUEUE", " 7 ")
    monkeypatch.setenv("TESTNET", "true")
    path = tmp_path / "qmtl.yml"
    path.write_text(
        "connectors:\n"
        "  execution_domain: live\n"
        "  broker_url: http://127.0.0.1:9/o\n"
        "  trade_max_retries: ${RETRIES:-3}\n"
        "  trade_backoff: ${BACKOFF:-0.5}\n"
        "  feed: {name: websocket, url: 'ws://127.0.0.1:9/ws', queue_size: '${QUEUE}'}\n"
    )
    config = parse_connectors(path)
    assert config.brokerage is not None and config.feed is not None
    assert config.brokerage.options == {
        "url": "http://127.0.0.1:9/o",
        "max_retries": 3,
        "backoff": 0.5,
    }
    assert type(config.brokerage.options["max_retries"]) is int
    assert config.feed.options["queue_size"] == 7
    checked = load_connectors(path).config.brokerage
    assert checked is not None and checked.config.given()["max_retries"] == 3


def test_a_non_number_from_the_environment_names_the_variable_and_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETRIES", "three")
    path = tmp_path / "qmtl.yml"
    path.write_text(
        "connectors:\n  broker_url: http://127.0.0.1:9/o\n  trade_max_retries: ${RETRIES}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_connectors(path)
    text = str(info.value)
    assert info.value.key == "connectors.trade_max_retries" and info.value.line == 3
    assert "${RETRIES}" in text and "'three'" in text and "integer" in text


THIRD_PARTY_PAPER = """
from qmtl_core.hookspecs import hookimpl
from qmtl_plugin_fake.brokerage import FakeBrokerageClient
from qmtl_plugin_fake.config import FakeBrokerageConfig

class DeskPaper(FakeBrokerageClient):
    pass

@hookimpl
def register_connectors(register):
    register("brokerage", "desk-paper", DeskPaper.from_config, config=FakeBrokerageConfig,
             dryrun=True)
    register.shorthand("desk_url", "brokerage", "http", "url", "the desk's orders URL",
                       selects=True)
"""


def test_a_third_party_plugin_can_take_the_dryrun_and_shorthand_roles(
    make_dist: MakeDist,
) -> None:
    make_dist(
        "thirdparty-desk", {"thirdparty_desk": THIRD_PARTY_PAPER}, {"desk": "thirdparty_desk"}
    )
    both = Registry(make_plugin_manager(env={"QMTL_LOAD_PLUGINS": "fake,http,desk"}))
    with pytest.raises(Exception, match="several plugins provide the dryrun brokerage"):
        load_connectors({}, registry=both).brokerage  # noqa: B018
    registry = Registry(make_plugin_manager(env={"QMTL_LOAD_PLUGINS": "http,desk"}))
    connectors = load_connectors({"desk_url": "http://127.0.0.1:9/o"}, registry=registry)
    assert type(connectors.brokerage).__name__ == "DeskPaper"
    assert type(connectors.with_domain("live").brokerage).__name__ == "HttpBrokerageClient"


def test_observers_on_an_explicit_registry_hear_its_connectors() -> None:
    registry = Registry(make_plugin_manager(env={"QMTL_LOAD_PLUGINS": "fake"}))
    mine: list[str] = []

    class Observer:
        from qmtl_core.hookspecs import hookimpl

        @hookimpl
        def qmtl_order_event(self, event: object) -> None:
            mine.append(getattr(event, "kind", "?"))

    registry.plugin_manager.register(Observer(), name="mine")
    broker = registry.create("brokerage", "fake", prices={"BTC/USDT": 100})
    with record_events() as on_default:
        broker.post_order(ORDER)
    assert mine[:3] == ["validated", "sent", "acknowledged"]
    assert on_default.events == []  # the default registry's observers hear nothing of it
