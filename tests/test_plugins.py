"""Plugin loading through entry points: isolation, allow/block lists, strict mode."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from qmtl_core.errors import PluginError
from qmtl_core.plugins import make_plugin_manager
from qmtl_core.registry import Registry

MakeDist = Callable[..., None]

GOOD = """
from qmtl_core.hookspecs import hookimpl

@hookimpl
def register_connectors(register):
    register("brokerage", "{name}", "qmtl_plugin_fake.brokerage:FakeBrokerageClient",
             summary="{name} test connector", oco="emulated")
"""
BROKEN_IMPORT = "raise RuntimeError('boom at import')\n"
BROKEN_REGISTER = """
from qmtl_core.hookspecs import hookimpl

@hookimpl
def register_connectors(register):
    raise ValueError("boom at register")
"""
MISSPELLED = """
from qmtl_core.hookspecs import hookimpl

@hookimpl
def register_conectors(register):
    pass
"""
RECORDS_IMPORT = """
import sys
from collections.abc import Callable
sys.modules.setdefault("thirdparty_import_log", type(sys)("log")).imported = True
"""


def test_a_broken_plugin_is_reported_and_the_others_load(make_dist: MakeDist) -> None:
    make_dist(
        "thirdparty-good",
        {"thirdparty_good": GOOD.format(name="good")},
        {"good": "thirdparty_good"},
    )
    make_dist("thirdparty-bad", {"thirdparty_bad": BROKEN_IMPORT}, {"bad": "thirdparty_bad"})
    make_dist("thirdparty-reg", {"thirdparty_reg": BROKEN_REGISTER}, {"reg": "thirdparty_reg"})
    env = {"QMTL_LOAD_PLUGINS": "good,bad,reg"}
    registry = Registry(make_plugin_manager(env=env))
    assert [s.name for s in registry.connectors()] == ["good"]
    assert registry.connectors()[0].distribution == "thirdparty-good"
    failures = {f.name: f for f in registry.plugins.failures}
    assert set(failures) == {"bad", "reg"}
    assert "boom at import" in failures["bad"].error
    assert failures["bad"].entry_point == "thirdparty_bad"
    assert failures["bad"].distribution == "thirdparty-bad"
    assert "boom at register" in failures["reg"].error


def test_strict_mode_turns_a_failure_into_an_error(make_dist: MakeDist) -> None:
    make_dist("thirdparty-bad", {"thirdparty_bad": BROKEN_IMPORT}, {"bad": "thirdparty_bad"})
    env = {"QMTL_LOAD_PLUGINS": "bad", "QMTL_STRICT_PLUGINS": "1"}
    with pytest.raises(PluginError, match=r"'bad'.*boom at import"):
        make_plugin_manager(env=env)


def test_a_misspelled_hook_is_an_error(make_dist: MakeDist) -> None:
    make_dist("thirdparty-typo", {"thirdparty_typo": MISSPELLED}, {"typo": "thirdparty_typo"})
    plugins = make_plugin_manager(env={"QMTL_LOAD_PLUGINS": "typo"})
    assert [f.name for f in plugins.failures] == ["typo"]
    assert "register_conectors" in plugins.failures[0].error
    assert plugins.manager.get_plugin("typo") is None
    with pytest.raises(PluginError, match="register_conectors"):
        make_plugin_manager(env={"QMTL_LOAD_PLUGINS": "typo", "QMTL_STRICT_PLUGINS": "1"})


def test_block_and_allow_lists_apply_before_import(make_dist: MakeDist) -> None:
    make_dist("thirdparty-spy", {"thirdparty_spy": RECORDS_IMPORT}, {"spy": "thirdparty_spy"})
    make_dist(
        "thirdparty-good",
        {"thirdparty_good": GOOD.format(name="good")},
        {"good": "thirdparty_good"},
    )
    plugins = make_plugin_manager(
        env={"QMTL_LOAD_PLUGINS": "good,spy", "QMTL_DISABLE_PLUGINS": "spy"}
    )
    assert "thirdparty_spy" not in sys.modules
    assert [p.name for p in plugins.loaded] == ["good"]
    # The allow list takes distribution names too, and leaves everything else unimported.
    plugins = make_plugin_manager(env={"QMTL_LOAD_PLUGINS": "thirdparty-good"})
    assert [p.name for p in plugins.loaded] == ["good"]
    assert "thirdparty_spy" not in sys.modules
    make_plugin_manager(env={"QMTL_LOAD_PLUGINS": "spy"})
    assert "thirdparty_spy" in sys.modules


def test_two_plugins_claiming_one_name_name_both_distributions(make_dist: MakeDist) -> None:
    make_dist(
        "thirdparty-one", {"thirdparty_one": GOOD.format(name="same")}, {"one": "thirdparty_one"}
    )
    make_dist(
        "thirdparty-two", {"thirdparty_two": GOOD.format(name="same")}, {"two": "thirdparty_two"}
    )
    env = {"QMTL_LOAD_PLUGINS": "one,two"}
    registry = Registry(make_plugin_manager(env=env))
    with pytest.raises(PluginError) as info:
        registry.create("brokerage", "same")
    assert "thirdparty-one" in str(info.value) and "thirdparty-two" in str(info.value)
    assert any("thirdparty-two" in f.error for f in registry.plugins.failures)
    with pytest.raises(PluginError, match="thirdparty-one"):
        Registry(make_plugin_manager(env={**env, "QMTL_STRICT_PLUGINS": "1"}))


def test_builtin_plugins_load_through_entry_points_like_any_other() -> None:
    plugins = make_plugin_manager(env={})
    fake = plugins.plugin("fake")
    assert fake is not None
    assert fake.distribution == "qmtl-plugin-fake"
    assert fake.entry_point == "qmtl_plugin_fake"
    blocked = make_plugin_manager(env={"QMTL_DISABLE_PLUGINS": "qmtl-plugin-fake"})
    assert blocked.plugin("fake") is None


def test_each_call_builds_a_fresh_manager() -> None:
    assert make_plugin_manager(env={}).manager is not make_plugin_manager(env={}).manager


LAZY_CONFIG = """
from qmtl_core.hookspecs import hookimpl

@hookimpl
def register_connectors(register):
    register("brokerage", "lazy", "qmtl_plugin_fake.brokerage:FakeBrokerageClient.from_config",
             config="thirdparty_lazy_config:LazyConfig", summary="config named by a string")
    register("brokerage", "missing", "qmtl_plugin_fake.brokerage:FakeBrokerageClient",
             config="thirdparty_lazy_config:NoSuchConfig")
    register("brokerage", "not-a-config", "qmtl_plugin_fake.brokerage:FakeBrokerageClient",
             config="thirdparty_lazy_config:NOT_A_CONFIG")
"""
LAZY_CONFIG_MODULE = """
from dataclasses import dataclass
from qmtl_plugin_fake.config import FakeBrokerageConfig

@dataclass(frozen=True, kw_only=True)
class LazyConfig(FakeBrokerageConfig):
    pass

NOT_A_CONFIG = dict
"""


def test_a_config_named_by_a_string_is_imported_on_first_use(make_dist: MakeDist) -> None:
    make_dist(
        "thirdparty-lazy",
        {"thirdparty_lazy": LAZY_CONFIG, "thirdparty_lazy_config": LAZY_CONFIG_MODULE},
        {"lazy": "thirdparty_lazy"},
    )
    registry = Registry(make_plugin_manager(env={"QMTL_LOAD_PLUGINS": "lazy"}))
    specs = {s.name: s for s in registry.connectors()}
    assert specs["lazy"].summary == "config named by a string"
    assert "thirdparty_lazy_config" not in sys.modules  # listing did not import it
    broker = registry.create("brokerage", "lazy", prices={"BTC/USDT": 7})
    assert broker.last_price("BTC/USDT") == 7
    assert specs["lazy"].config.__name__ == "LazyConfig"
    with pytest.raises(PluginError, match=r"'missing' \(thirdparty-lazy\).*NoSuchConfig"):
        registry.create("brokerage", "missing")
    with pytest.raises(PluginError, match="must be a ConnectorConfig subclass"):
        registry.validate("brokerage", "not-a-config", {})
