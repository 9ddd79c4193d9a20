"""qmtl.yml: seed flat keys, full form, ${ENV}, errors with file and line, secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from qmtl_core import OrderStatus, load_connectors
from qmtl_core.config import parse_connectors
from qmtl_core.errors import ConfigError, ConfigErrors
from qmtl_core.plugins import make_plugin_manager
from qmtl_core.registry import Registry

MakeDist = Callable[..., None]
SECRET = "sk-live-DO-NOT-PRINT-1234"

VAULT = """
from dataclasses import dataclass

from qmtl_core.hookspecs import hookimpl
from qmtl_core.options import ConnectorConfig, setting
from qmtl_core.redaction import Secret

@dataclass(frozen=True, kw_only=True)
class VaultConfig(ConnectorConfig):
    url: str = setting("where the broker lives")
    api_key: Secret = setting("API key", aliases=("apiKey",))
    secret: Secret | None = setting("API secret", default=None)
    retries: int = setting("how often to retry", default=3, minimum=0)

class VaultBroker:
    def __init__(self, config):
        self.url, self.api_key = config.url, config.api_key
        self.secret, self.retries = config.secret, config.retries

@hookimpl
def register_connectors(register):
    register("brokerage", "vault", VaultBroker, config=VaultConfig)
"""


@pytest.fixture
def registry(make_dist: MakeDist) -> Registry:
    make_dist("thirdparty-vault", {"thirdparty_vault": VAULT}, {"vault": "thirdparty_vault"})
    return Registry(make_plugin_manager(env={"QMTL_LOAD_PLUGINS": "fake,http,vault"}))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "qmtl.yml"
    path.write_text(text)
    return path


def test_seed_flat_keys_become_http_and_websocket(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
connectors:
  execution_domain: live
  broker_url: https://broker/api/orders
  trade_max_retries: 3
  trade_backoff: 0.1
  ws_url: wss://gateway/ws
""",
    )
    config = parse_connectors(path)
    assert config.execution_domain == "live"
    assert config.brokerage is not None and config.brokerage.name == "http"
    assert config.brokerage.options == {
        "url": "https://broker/api/orders",
        "max_retries": 3,
        "backoff": 0.1,
    }
    assert config.feed is not None and config.feed.name == "websocket"
    assert config.feed.options == {"url": "wss://gateway/ws"}
    connectors = load_connectors(path)
    broker = connectors.brokerage
    assert type(broker).__name__ == "HttpBrokerageClient"


def test_full_form_builds_the_named_connector(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_KEY", SECRET)
    path = write(
        tmp_path,
        """\
connectors:
  execution_domain: live
  brokerage:
    name: vault
    url: https://vault.example/api
    api_key: ${VAULT_KEY}
    retries: 5
""",
    )
    connectors = load_connectors(path, registry=registry)
    broker = connectors.brokerage
    assert type(broker).__name__ == "VaultBroker"
    assert broker.url == "https://vault.example/api" and broker.retries == 5
    assert broker.api_key.reveal() == SECRET
    assert connectors.brokerage is broker  # built once


def test_dryrun_routes_orders_to_the_fake_broker_whatever_brokerage_says(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_KEY", SECRET)
    path = write(
        tmp_path,
        """\
connectors:
  execution_domain: dryrun
  brokerage: {name: vault, url: "https://vault", api_key: "${VAULT_KEY}"}
""",
    )
    connectors = load_connectors(path, registry=registry)
    assert type(connectors.brokerage).__name__ == "FakeBrokerageClient"
    assert type(connectors.with_domain("live").brokerage).__name__ == "VaultBroker"


async def _noop(message: dict[str, object]) -> None:
    return None


def test_dryrun_and_missing_feed_give_the_fake_feed(registry: Registry) -> None:
    connectors = load_connectors({"connectors": {"execution_domain": "dryrun"}}, registry=registry)
    feed = connectors.feed(on_message=_noop)
    assert type(feed).__name__ == "FakeLiveDataFeed" and feed.on_message is _noop


def test_dryrun_with_the_paper_brokerage_configured_honours_its_prices(
    registry: Registry,
) -> None:
    connectors = load_connectors(
        {"connectors": {"brokerage": {"name": "fake", "prices": {"BTC/USDT": 50000}}}},
        registry=registry,
    )
    assert connectors.dryrun
    ack = connectors.brokerage.post_order(
        {"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": "0.01"}
    )
    assert ack.status is OrderStatus.FILLED and ack.average_price == Decimal(50000)


def test_live_without_a_feed_says_so_instead_of_a_fake_feed(registry: Registry) -> None:
    connectors = load_connectors(
        {"connectors": {"execution_domain": "live", "brokerage": {"name": "fake"}}},
        registry=registry,
    )
    with pytest.raises(ConfigError, match="no feed configured") as info:
        connectors.feed(on_message=_noop)
    assert info.value.key == "connectors.feed"


def test_default_domain_is_dryrun(registry: Registry) -> None:
    assert load_connectors({}, registry=registry).execution_domain == "dryrun"


def test_missing_env_var_names_it_file_and_line(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    path = write(
        tmp_path,
        """\
connectors:
  execution_domain: live
  brokerage:
    name: vault
    url: https://x
    api_key: ${NOT_SET_ANYWHERE}
""",
    )
    with pytest.raises(ConfigError) as info:
        parse_connectors(path, registry=registry)
    message = str(info.value)
    assert "${NOT_SET_ANYWHERE}" in message and f"{path}:6" in message
    assert "connectors.brokerage.api_key" in message


def test_env_default_syntax(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAYBE_URL", raising=False)
    config = parse_connectors(
        {
            "execution_domain": "live",
            "brokerage": {"name": "vault", "url": "${MAYBE_URL:-https://d}", "api_key": "k"},
        },
        registry=registry,
    )
    assert config.brokerage is not None and config.brokerage.options["url"] == "https://d"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "connectors:\n  execution_domain: live\n  broker_url: [unclosed\n")
    with pytest.raises(ConfigError, match=r"YAML syntax error") as info:
        parse_connectors(path)
    assert info.value.line is not None and info.value.line >= 3
    assert str(path) in str(info.value)


def test_every_error_is_listed_with_its_line(tmp_path: Path, registry: Registry) -> None:
    path = write(
        tmp_path,
        """\
connectors:
  execution_domian: live
  brokerage:
    name: vault
    url: 42
    api_kee: abc
  feed:
    name: websockett
""",
    )
    with pytest.raises(ConfigErrors) as info:
        parse_connectors(path, registry=registry)
    found = {(e.key, e.line) for e in info.value.errors}
    assert ("connectors.execution_domian", 2) in found
    assert ("connectors.brokerage.url", 5) in found
    assert ("connectors.brokerage.api_kee", 6) in found
    assert ("connectors.brokerage.api_key", 3) in found  # required, missing: the section's line
    assert ("connectors.feed.name", 8) in found
    text = str(info.value)
    assert "did you mean 'execution_domain'" in text
    assert "did you mean 'api_key'" in text
    assert "expected text, got int 42" in text
    assert "no feed connector named 'websockett'" in text


def test_domain_and_flat_key_mistakes(registry: Registry) -> None:
    with pytest.raises(ConfigError, match="one of dryrun, live"):
        parse_connectors({"execution_domain": "paper"}, registry=registry)
    with pytest.raises(ConfigError, match="needs a brokerage"):
        parse_connectors({"execution_domain": "live"}, registry=registry)
    with pytest.raises(ConfigError, match="only applies with 'broker_url'"):
        parse_connectors({"trade_backoff": 0.5}, registry=registry)
    with pytest.raises(ConfigError, match="not both"):
        parse_connectors(
            {"broker_url": "http://x", "brokerage": {"name": "fake"}}, registry=registry
        )


def test_top_level_must_have_connectors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="top-level 'connectors:'"):
        parse_connectors(write(tmp_path, "something: else\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        parse_connectors(tmp_path / "missing.yml")


def test_secrets_never_show(
    tmp_path: Path,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("VAULT_KEY", SECRET)
    monkeypatch.setenv("VAULT_SECRET", SECRET + "-2")
    path = write(
        tmp_path,
        """\
connectors:
  execution_domain: live
  brokerage:
    name: vault
    url: https://vault
    apiKey: ${VAULT_KEY}
    secret: ${VAULT_SECRET}
    retries: "not a number"
""",
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as info:
        parse_connectors(path, registry=registry)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    path.write_text(path.read_text().replace('"not a number"', "2"))
    connectors = load_connectors(path, registry=registry)
    broker = connectors.brokerage
    dump = connectors.config.dump()
    logging.getLogger("test").info(
        "config %s broker %r key %s", dump, broker.api_key, broker.api_key
    )
    for text in (
        str(dump),
        repr(connectors),
        repr(connectors.config),
        str(broker.api_key),
        repr(broker.api_key),
        f"{broker.secret}",
        caplog.text,
    ):
        assert SECRET not in text
    assert dump["brokerage"]["api_key"] == "***"
    assert broker.api_key.reveal() == SECRET


def test_check_command_prints_redacted_config_and_lists_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from qmtl_core.cli import main

    monkeypatch.setenv("WS_TOKEN", SECRET)
    good = write(
        tmp_path,
        """\
connectors:
  execution_domain: live
  broker_url: http://127.0.0.1:9/api/orders
  trade_backoff: 0.25
  feed:
    name: websocket
    url: ws://127.0.0.1:9/ws
    token: ${WS_TOKEN}
    subscribe: [{op: subscribe, fast: true}]
""",
    )
    assert main(["check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "token: '***'" in out and SECRET not in out
    assert "backoff: 0.25" in out and "fast: true" in out
    bad = tmp_path / "bad.yml"
    bad.write_text("connectors:\n  execution_domain: nowhere\n  broker_url: 5\n")
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "2 errors" in err and "bad.yml:2" in err and "bad.yml:3" in err
    assert "key 'connectors.broker_url': expected text, got int 5" in err  # the key as written
