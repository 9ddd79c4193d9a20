"""The state URL (``connectors: state:``) and the stores it opens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import redis

from qmtl_core.errors import ConfigError
from qmtl_core.redaction import redact_url
from qmtl_core.state import open_redis, open_sqlite, parse_state_url
from qmtl_core.testing.redis_server import free_port


def test_sqlite_relative_path_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    state = parse_state_url("sqlite:///state/orders.db", base_dir=tmp_path)
    assert state.scheme == "sqlite"
    assert state.path == (tmp_path / "state" / "orders.db").resolve()


def test_sqlite_absolute_path_takes_four_slashes(tmp_path: Path) -> None:
    state = parse_state_url(f"sqlite:///{tmp_path}/abs.db", base_dir="/elsewhere")
    assert state.path == (tmp_path / "abs.db").resolve()


def test_memory_and_redis_urls() -> None:
    assert parse_state_url("memory://").scheme == "memory"
    assert parse_state_url("redis://127.0.0.1:6379/2").scheme == "redis"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgres://db/x", "unsupported state URL"),
        ("state.db", "unsupported state URL"),
        ("sqlite://", "no file path"),
        ("redis://127.0.0.1:6379/zero", "database must be a number"),
        ("redis://127.0.0.1:99999/0", "out of range"),
        ("", "expected a state URL"),
    ],
)
def test_bad_urls_name_the_key_and_the_fix(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_state_url(url)
    assert info.value.key == "state"
    assert says in str(info.value)
    assert "sqlite:///" in str(info.value)  # the accepted forms


def test_a_password_never_appears_in_messages() -> None:
    url = "redis://:hunter2@127.0.0.1:1/zero"
    assert redact_url(url) == "redis://:***@127.0.0.1:1/zero"
    with pytest.raises(ConfigError) as info:
        parse_state_url(url)
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(parse_state_url("redis://:hunter2@h:1/0"))


def test_open_sqlite_is_wal_and_fully_synchronous(tmp_path: Path) -> None:
    conn = open_sqlite(tmp_path / "deep" / "state.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn.close()


def test_open_sqlite_on_an_unwritable_path_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError) as info:
        open_sqlite(blocker / "state.db")
    assert "cannot open the state file" in str(info.value)
    assert not isinstance(info.value.__cause__, sqlite3.Error)


def test_unreachable_redis_names_the_address_not_the_password() -> None:
    port = free_port()
    with pytest.raises(ConfigError) as info:
        open_redis(parse_state_url(f"redis://:hunter2@127.0.0.1:{port}/0"))
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message
    assert "hunter2" not in message


def test_the_fixture_serves_a_real_redis(qmtl_redis_url: str) -> None:
    client = open_redis(parse_state_url(qmtl_redis_url))
    assert isinstance(client, redis.Redis)
    client.set("k", "v")
    assert client.get("k") == b"v"
    assert client.config_get("appendfsync")["appendfsync"] == "always"
    client.close()
