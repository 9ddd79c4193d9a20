"""Plugin loading: entry points of group ``qmtl.connectors``, one at a time.

Built-in plugins load exactly like a third party's. A plugin that fails to import or
register is reported by name while the others still load; ``QMTL_STRICT_PLUGINS=1``
turns any failure into an error. Allow and block lists apply before any import.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from qmtl_core import hookspecs
from qmtl_core.entry_points import EntryPoint, installed
from qmtl_core.errors import PluginError
from qmtl_core.events import LoggingObserver

#: Static metadata a plugin distribution declares (read without importing it), so that
#: a missing connector or name says which distribution provides it. Entry names:
#: ``brokerage:<name>``, ``feed:<name>``, ``export:<Name>``, ``dryrun:<kind>``.
PROVIDES_GROUP = "qmtl.provides"
LOAD_ENV = "QMTL_LOAD_PLUGINS"
DISABLE_ENV = "QMTL_DISABLE_PLUGINS"
STRICT_ENV = "QMTL_STRICT_PLUGINS"


@dataclass(frozen=True)
class LoadedPlugin:
    """A plugin that loaded: its entry point and the distribution that declares it."""

    name: str
    entry_point: str
    distribution: str | None
    version: str | None


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that failed to import, register or validate, and why (shown by the CLI)."""

    name: str
    entry_point: str
    distribution: str | None
    error: str


@dataclass
class PluginSet:
    """A plugin manager plus what was loaded and what failed, for the CLI and errors."""

    manager: pluggy.PluginManager
    loaded: list[LoadedPlugin] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)
    strict: bool = False

    def plugin(self, name: str) -> LoadedPlugin | None:
        return next((p for p in self.loaded if p.name == name), None)

    def fail(self, failure: PluginFailure) -> None:
        self.failures.append(failure)
        if self.strict:
            raise PluginError(
                f"plugin '{failure.name}' ({failure.entry_point}) failed: {failure.error}"
            )


def _names(value: str | None) -> set[str] | None:
    if value is None or not value.strip():
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _selected(ep: EntryPoint, allow: set[str] | None, block: set[str]) -> bool:
    ids = {ep.name}
    if ep.dist is not None:
        ids.add(ep.dist.name)
    if allow is not None and not ids & allow:
        return False
    return not ids & block


def make_plugin_manager(
    *,
    env: Mapping[str, str] | None = None,
    entry_points: Iterable[EntryPoint] | None = None,
) -> PluginSet:
    """Build a fresh plugin manager from the installed entry points."""
    env = os.environ if env is None else env
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(LoggingObserver(), name="qmtl-core.logging")
    plugins = PluginSet(manager, strict=env.get(STRICT_ENV, "") not in ("", "0", "false"))
    allow, block = _names(env.get(LOAD_ENV)), _names(env.get(DISABLE_ENV)) or set()
    if entry_points is None:
        entry_points = installed(hookspecs.ENTRY_POINT_GROUP)
    for ep in sorted(entry_points, key=lambda e: e.name):
        if _selected(ep, allow, block):
            _load_one(plugins, ep)
    return plugins


def _load_one(plugins: PluginSet, ep: EntryPoint) -> None:
    dist = ep.dist.name if ep.dist is not None else None
    version = ep.dist.version if ep.dist is not None else None
    if plugins.plugin(ep.name) is not None:
        plugins.fail(PluginFailure(ep.name, ep.value, dist, "another plugin has this name"))
        return
    try:
        plugin = ep.load()
        plugins.manager.register(plugin, name=ep.name)
    except Exception as exc:
        plugins.fail(PluginFailure(ep.name, ep.value, dist, f"{type(exc).__name__}: {exc}"))
        return
    try:
        check_pending(plugins.manager)
    except PluginError as exc:
        plugins.manager.unregister(name=ep.name)
        plugins.fail(PluginFailure(ep.name, ep.value, dist, str(exc)))
        return
    plugins.loaded.append(LoadedPlugin(ep.name, ep.value, dist, version))


def check_pending(manager: pluggy.PluginManager) -> None:
    """Raise :class:`PluginError` when a plugin implements a hook no spec defines."""
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"unknown hook (misspelled?): {exc}") from exc


def provider_hint(what: str) -> str:
    """``"; it is provided by <dist>: pip install <dist>"`` for an installed distribution
    whose ``qmtl.provides`` metadata lists ``what`` (e.g. ``"feed:websocket"``) but whose
    plugin is not loaded (blocked, or failed); ``""`` when none does."""
    for ep in installed(PROVIDES_GROUP, what):
        if ep.dist is not None:
            dist = ep.dist.name
            return (
                f"; it is provided by {dist}: pip install {dist} (if it is installed, check "
                f"{LOAD_ENV}/{DISABLE_ENV} and `qmtl-connectors plugins`)"
            )
    return ""


def load_extra(target: str, requirement: str) -> Any:
    """Import ``"module:attr"`` that needs an optional dependency (an extra such as
    ``qmtl-plugin-http[server]``); a missing one is a :class:`PluginError` naming what to
    install, not a traceback."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise PluginError(
            f"this needs {exc.name}, which is not installed: pip install '{requirement}'"
        ) from None
    return getattr(module, attr)
