"""One redaction rule for config dumps, reprs, logs and error messages alike."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from qmtl_core.config import load_connectors, parse_connectors
from qmtl_core.errors import ConfigError
from qmtl_core.events import DEFAULT_EVENTS
from qmtl_core.redaction import redact, redact_url

from .test_cli import run

SECRETS = ("hunter2", "pass99", "KEY777", "SUBTOK", "STRTOK", "tok-123", "12345678")
CONFIG = """\
connectors:
  execution_domain: live
  brokerage: {name: http, url: "http://user:hunter2@127.0.0.1:1/orders", token: tok-123}
  feed:
    name: websocket
    url: "ws://user:pass99@127.0.0.1:2/ws?apikey=KEY777&x=1"
    subscribe:
      - {op: auth, token: SUBTOK}
      - '{"op": "auth", "token": "STRTOK"}'
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "qmtl.yml"
    path.write_text(CONFIG)
    return path


def test_check_prints_no_secret_in_any_shape(config_file: Path) -> None:
    result = run("check", str(config_file))
    assert result.returncode == 0, result.stderr
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr
    assert "user:***@127.0.0.1:1/orders" in result.stdout  # what is not secret stays
    assert "ws?***" in result.stdout


def test_reprs_and_dumps_show_no_secret(config_file: Path) -> None:
    connectors = load_connectors(config_file)
    shown = repr(connectors) + repr(connectors.config.dump())
    for secret in SECRETS:
        assert secret not in shown


def test_a_secret_written_as_a_number_is_not_echoed_in_its_type_error(tmp_path: Path) -> None:
    path = tmp_path / "qmtl.yml"
    path.write_text(
        "connectors:\n  execution_domain: live\n"
        "  brokerage: {name: http, url: 'http://127.0.0.1:1/o', token: 12345678}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_connectors(path)
    assert "12345678" not in str(info.value)
    assert "token" in str(info.value)


def test_a_bad_url_error_hides_its_password(tmp_path: Path) -> None:
    path = tmp_path / "qmtl.yml"
    path.write_text("connectors:\n  broker_url: 'ftp://u:hunter2@host/orders?key=KEY777'\n")
    with pytest.raises(ConfigError) as info:
        parse_connectors(path)
    assert "hunter2" not in str(info.value) and "KEY777" not in str(info.value)
    assert "ftp://u:***@host/orders?***" in str(info.value)


def test_log_lines_of_events_hide_urls_and_nested_tokens(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="qmtl_core.events"):
        DEFAULT_EVENTS.feed(
            "connected",
            "websocket",
            url="wss://u:hunter2@venue/ws?apikey=KEY777",
            subscribe=[{"op": "auth", "token": "SUBTOK"}, '{"token": "STRTOK"}'],
        )
    text = caplog.text
    assert "connected" in text
    for secret in ("hunter2", "KEY777", "SUBTOK", "STRTOK"):
        assert secret not in text


def test_the_rule_itself() -> None:
    assert redact_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact({"api_key": 123, "nested": [{"secret": 0.5}], "x": "plain"}) == {
        "api_key": "***",
        "nested": [{"secret": "***"}],
        "x": "plain",
    }
    assert redact({"token": None}) == {"token": None}  # absent is shown as absent
