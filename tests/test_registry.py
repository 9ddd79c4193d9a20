"""The registry: building connectors by name, lazy factories, and the root imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from qmtl_core import runtime
from qmtl_core.errors import ConfigError, ConfigErrors, UnknownConnectorError
from qmtl_core.execution import RetryPolicy
from qmtl_core.plugins import make_plugin_manager
from qmtl_core.registry import Registry, default_registry

SEED_NAMES = [
    "HttpBrokerageClient",
    "FakeBrokerageClient",
    "CcxtBrokerageClient",
    "FuturesCcxtBrokerageClient",
    "TradeExecutionService",
    "WebSocketFeed",
    "WebSocketClient",
    "FakeLiveDataFeed",
    "Runner",
    "OCOOrder",
    "make_ccxt_brokerage",
]
HEAVY = ("ccxt", "requests", "websocket", "websockets")
#: What listing connectors need not import (start-up time): the config modules the
#: built-in plugins name by ``"module:attr"``, and logging (listing logs nothing).
CONFIGS = (
    "logging",
    "qmtl_core.options",
    "qmtl_plugin_http.config",
    "qmtl_ccxt_common.config",
    "qmtl_plugin_websocket.config",
)


def only(*plugins: str) -> Registry:
    return Registry(make_plugin_manager(env={"QMTL_LOAD_PLUGINS": ",".join(plugins)}))


def test_create_validates_options_then_builds() -> None:
    broker = default_registry().create("brokerage", "fake", prices={"BTC/USDT": 100})
    assert broker.last_price("BTC/USDT") == 100
    with pytest.raises(ConfigError, match=r"'prices'.*expected mapping") as info:
        default_registry().create("brokerage", "fake", prices=5)
    assert info.value.key == "prices"
    with pytest.raises(ConfigError, match="did you mean 'prices'"):
        default_registry().create("brokerage", "fake", price={"X": 1})


def test_every_option_error_is_reported_at_once() -> None:
    with pytest.raises(ConfigErrors) as info:
        default_registry().create("brokerage", "fake", prices=5, futures="yes")
    assert {e.key for e in info.value.errors} == {"prices", "futures"}


def test_unknown_name_lists_installed_suggests_and_names_the_package() -> None:
    registry = only("fake")
    with pytest.raises(UnknownConnectorError) as info:
        registry.create("brokerage", "fak")
    message = str(info.value)
    assert "installed: fake" in message and "did you mean 'fake'" in message
    with pytest.raises(UnknownConnectorError, match="pip install qmtl-plugin-ccxt-spot"):
        registry.get("brokerage", "ccxt")
    with pytest.raises(UnknownConnectorError, match="pip install qmtl-plugin-websocket"):
        registry.get("feed", "websocket")
    with pytest.raises(UnknownConnectorError, match="kind must be one of brokerage, feed"):
        registry.get("exchange", "fake")


def test_builtins_register_under_the_agreed_names() -> None:
    names = {(s.kind, s.name) for s in default_registry().connectors()}
    assert names >= {
        ("brokerage", "fake"),
        ("brokerage", "http"),
        ("brokerage", "ccxt"),
        ("brokerage", "ccxt-futures"),
        ("feed", "fake"),
        ("feed", "websocket"),
    }


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_listing_connectors_imports_no_connector_dependencies() -> None:
    code = (
        "import io, contextlib, json, sys\n"
        "from qmtl_core.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    main(['plugins'])\n"
        f"print(json.dumps([m for m in {HEAVY + CONFIGS!r} if m in sys.modules]))\n"
        "print(json.dumps(out.getvalue()))\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    imported, listing = (json.loads(line) for line in done.stdout.splitlines()[-2:])
    assert imported == []
    assert "fake" in listing


def test_seed_names_import_from_the_package_root() -> None:
    done = _python(f"from qmtl_core import {', '.join(SEED_NAMES)}; print('ok')")
    assert done.returncode == 0, done.stderr
    import qmtl_core

    for name in SEED_NAMES:
        assert callable(getattr(qmtl_core, name)), name


def test_a_seed_name_without_its_plugin_says_what_to_install() -> None:
    done = _python(
        "from qmtl_core import FakeBrokerageClient", QMTL_DISABLE_PLUGINS="qmtl-plugin-fake"
    )
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert "pip install qmtl-plugin-fake" in done.stderr


def test_unknown_root_attribute_is_a_plain_attribute_error() -> None:
    import qmtl_core

    assert not hasattr(qmtl_core, "NoSuchThing")


def test_runtime_settings_are_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = RetryPolicy(max_retries=3, jitter=0.0)
    monkeypatch.setattr(runtime, "BACKOFF_INITIAL_SECONDS", 0.25)
    assert policy.delay(1) == 0.25
    monkeypatch.setattr(runtime, "BACKOFF_MAX_SECONDS", 0.3)
    assert policy.delay(3) == 0.3
    assert runtime.WS_RECV_TIMEOUT_SECONDS == 30.0


def test_http_timeout_defaults_and_is_lowered_under_test() -> None:
    done = _python("from qmtl_core import runtime; print(runtime.HTTP_TIMEOUT_SECONDS)")
    assert done.stdout.strip() == "2.0"
    assert runtime.HTTP_TIMEOUT_SECONDS == 1.5  # set by qmtl_core's pytest plugin


STAR = (
    "import json\n"
    "import qmtl_core\n"
    "from qmtl_core import *\n"
    "print(json.dumps(sorted(n for n in globals() if not n.startswith('_'))))\n"
    "print(json.dumps(dir(qmtl_core)))\n"
)


@pytest.mark.parametrize(
    ("load", "present", "absent"),
    [
        ("fake", {"FakeBrokerageClient", "Runner"}, {"WebSocketFeed", "CcxtBrokerageClient"}),
        ("none", {"Runner", "OCOOrder", "load_connectors"}, {"FakeBrokerageClient"}),
        ("websocket", {"WebSocketFeed", "WebSocketClient"}, {"HttpBrokerageClient"}),
    ],
)
def test_star_import_works_with_any_subset_of_plugins(
    load: str, present: set[str], absent: set[str]
) -> None:
    done = _python(STAR, QMTL_LOAD_PLUGINS=load)
    assert done.returncode == 0, done.stderr
    star, listed = (set(json.loads(line)) for line in done.stdout.splitlines()[-2:])
    assert present <= star and not absent & star
    assert present <= listed and not absent & listed
    # Tab completion offers the public names, not the module's helpers and imports.
    assert not {"Any", "Path", "import_module", "annotations", "_CORE"} & listed
