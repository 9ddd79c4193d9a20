"""``rate_limits``, ``account``, ``rate_limit_max_wait`` and ``connectors: state:`` in qmtl.yml."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmtl_core.config import load_connectors
from qmtl_core.errors import ConfigError
from qmtl_core.rate_limits import Limit
from qmtl_core.rate_stores import SqliteStore

CONFIG = """\
connectors:
  execution_domain: live
  state: sqlite:///state/shared.db
  brokerage:
    name: http
    url: http://127.0.0.1:9/api/orders
    rate_limits:
      orders: {orders}
      requests: 1200/1m
    account: main
    rate_limit_max_wait: 2.5
"""


def write(tmp_path: Path, orders: str = "40/1s") -> Path:
    path = tmp_path / "qmtl.yml"
    path.write_text(CONFIG.format(orders=orders))
    return path


def test_the_brokerage_budget_is_kept_where_state_says(tmp_path: Path) -> None:
    connectors = load_connectors(write(tmp_path))
    budget = connectors.brokerage.rate_budget
    assert budget.account == "main" and budget.max_wait == 2.5
    assert budget.limits == {"orders": Limit(40, 1), "requests": Limit(1200, 60)}
    assert isinstance(budget.store, SqliteStore)
    assert (tmp_path / "state" / "shared.db").exists()  # relative to qmtl.yml
    assert connectors.config.dump()["state"] == "sqlite:///state/shared.db"
    connectors.brokerage.close()


def test_a_bad_limit_names_the_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, orders="40 per second")
    with pytest.raises(ConfigError) as info:
        load_connectors(path)
    error = info.value
    assert error.key == "connectors.brokerage.rate_limits"
    assert error.file == str(path) and error.line == 7
    assert "pool 'orders'" in str(error) and "40/1s" in str(error)


def test_a_bad_state_url_names_the_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "qmtl.yml"
    path.write_text(CONFIG.format(orders="40/1s").replace("sqlite:///state", "postgres://db"))
    with pytest.raises(ConfigError) as info:
        load_connectors(path)
    assert info.value.key == "connectors.state" and info.value.line == 3
