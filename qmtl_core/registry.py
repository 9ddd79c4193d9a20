"""Connector names -> factories, filled by plugins through ``register_connectors``.

``create(kind, name, **options)`` is the one way configuration turns into a live
connector: options are validated against the connector's schema first, then the
factory (possibly a lazy ``"module:attr"`` string) is resolved and called.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from qmtl_core.errors import PluginError, UnknownConnectorError
from qmtl_core.options import Schema, did_you_mean, validate_options
from qmtl_core.plugins import PluginFailure, PluginSet, make_plugin_manager

Kind = Literal["brokerage", "feed"]
KINDS: tuple[str, ...] = get_args(Kind)
Factory = Callable[..., Any] | str
FEED_CALLBACKS = ("on_message", "on_error", "on_reconnect")

#: Where the built-in connectors and public names live, for "pip install ..." hints only;
#: nothing here is imported by the core.
BUILTIN_DISTRIBUTIONS: dict[tuple[str, str], str] = {
    ("brokerage", "fake"): "qmtl-plugin-fake",
    ("feed", "fake"): "qmtl-plugin-fake",
    ("brokerage", "http"): "qmtl-plugin-http",
    ("brokerage", "ccxt"): "qmtl-plugin-ccxt-spot",
    ("brokerage", "ccxt-futures"): "qmtl-plugin-ccxt-futures",
    ("feed", "websocket"): "qmtl-plugin-websocket",
    ("feed", "ccxt"): "qmtl-plugin-ccxt-stream",
}
BUILTIN_EXPORTS: dict[str, str] = {
    "FakeBrokerageClient": "qmtl-plugin-fake",
    "FakeLiveDataFeed": "qmtl-plugin-fake",
    "HttpBrokerageClient": "qmtl-plugin-http",
    "TradeExecutionService": "qmtl-plugin-http",
    "CcxtBrokerageClient": "qmtl-plugin-ccxt-spot",
    "make_ccxt_brokerage": "qmtl-plugin-ccxt-spot",
    "FuturesCcxtBrokerageClient": "qmtl-plugin-ccxt-futures",
    "WebSocketFeed": "qmtl-plugin-websocket",
    "WebSocketClient": "qmtl-plugin-websocket",
    "CcxtStreamFeed": "qmtl-plugin-ccxt-stream",
}


def resolve(target: Factory) -> Any:
    """Import a ``"module:attr"`` string; pass anything else through."""
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class ConnectorSpec:
    """What a plugin registered for one connector name."""

    kind: Kind
    name: str
    factory: Factory
    options: Schema
    plugin: str
    distribution: str | None
    version: str | None
    summary: str = ""
    oco: str | None = None
    futures: bool = False
    extra_options: bool = False

    def load(self) -> Callable[..., Any]:
        factory: Callable[..., Any] = resolve(self.factory)
        return factory


@dataclass(frozen=True)
class Export:
    name: str
    target: Factory
    plugin: str
    distribution: str | None


class Register:
    """The object a plugin's ``register_connectors`` hook receives."""

    def __init__(
        self, registry: Registry, plugin: str, distribution: str | None, version: str | None
    ):
        self._registry = registry
        self._plugin = plugin
        self._distribution = distribution
        self._version = version

    def __call__(
        self,
        kind: Kind,
        name: str,
        factory: Factory,
        *,
        options: Schema = (),
        summary: str = "",
        oco: str | None = None,
        futures: bool = False,
        extra_options: bool = False,
    ) -> None:
        """Register connector ``name`` of ``kind`` ("brokerage" or "feed").

        ``oco`` describes OCO support for listings ("emulated", "manual",
        "exchange-dependent"); ``extra_options`` passes unknown options to the factory.
        """
        if kind not in KINDS:
            raise PluginError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        spec = ConnectorSpec(
            kind,
            name,
            factory,
            tuple(options),
            self._plugin,
            self._distribution,
            self._version,
            summary,
            oco,
            futures,
            extra_options,
        )
        self._registry._add(spec)

    def export(self, name: str, target: Factory) -> None:
        """Make ``name`` importable as ``from qmtl_core import name``."""
        self._registry._add_export(Export(name, target, self._plugin, self._distribution))


class Registry:
    """All connectors the loaded plugins registered, keyed by (kind, name)."""

    def __init__(self, plugins: PluginSet) -> None:
        self.plugins = plugins
        self._specs: dict[tuple[str, str], ConnectorSpec] = {}
        self._exports: dict[str, Export] = {}
        self._conflicts: dict[tuple[str, str], str] = {}
        for impl in plugins.manager.hook.register_connectors.get_hookimpls():
            loaded = plugins.plugin(impl.plugin_name)
            dist = loaded.distribution if loaded else None
            version = loaded.version if loaded else None
            register = Register(self, impl.plugin_name, dist, version)
            try:
                impl.function(register=register)
            except Exception as exc:
                self._drop_plugin(impl.plugin_name)
                plugins.manager.unregister(name=impl.plugin_name)
                entry = loaded.entry_point if loaded else impl.plugin_name
                plugins.loaded = [p for p in plugins.loaded if p.name != impl.plugin_name]
                plugins.fail(
                    PluginFailure(impl.plugin_name, entry, dist, f"{type(exc).__name__}: {exc}")
                )

    @property
    def plugin_manager(self) -> Any:
        return self.plugins.manager

    def _add(self, spec: ConnectorSpec) -> None:
        key = (spec.kind, spec.name)
        other = self._specs.get(key)
        if other is not None:
            message = (
                f"{spec.kind} connector '{spec.name}' is registered by both "
                f"{other.distribution or other.plugin} and {spec.distribution or spec.plugin}; "
                "uninstall one, or block one with QMTL_DISABLE_PLUGINS"
            )
            self._conflicts[key] = message
            self.plugins.fail(PluginFailure(spec.plugin, spec.plugin, spec.distribution, message))
            return
        self._specs[key] = spec

    def _add_export(self, export: Export) -> None:
        self._exports.setdefault(export.name, export)

    def _drop_plugin(self, plugin: str) -> None:
        self._specs = {k: s for k, s in self._specs.items() if s.plugin != plugin}
        self._exports = {k: e for k, e in self._exports.items() if e.plugin != plugin}

    def connectors(self, kind: Kind | None = None) -> list[ConnectorSpec]:
        return sorted(
            (s for s in self._specs.values() if kind is None or s.kind == kind),
            key=lambda s: (s.kind, s.name),
        )

    def get(self, kind: str, name: str) -> ConnectorSpec:
        if kind not in KINDS:
            raise UnknownConnectorError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        key = (kind, name)
        if key in self._conflicts:
            raise PluginError(self._conflicts[key])
        spec = self._specs.get(key)
        if spec is not None:
            return spec
        installed = sorted(n for k, n in self._specs if k == kind)
        message = f"no {kind} connector named '{name}'{did_you_mean(name, installed)}"
        message += f" (installed: {', '.join(installed) or 'none'})"
        dist = BUILTIN_DISTRIBUTIONS.get(key)
        if dist:
            message += f"; it is provided by {dist}: pip install {dist}"
        raise UnknownConnectorError(message)

    def validate(
        self,
        kind: str,
        name: str,
        options: Mapping[str, Any],
        *,
        key_name: Callable[[str], str] = str,
        file: str | None = None,
        line_of: Callable[[str], int | None] | None = None,
    ) -> dict[str, Any]:
        """Check options for connector ``name`` without building it (config validation)."""
        spec = self.get(kind, name)
        return validate_options(
            spec.options,
            options,
            allow_extra=spec.extra_options,
            key_name=key_name,
            file=file,
            line_of=line_of,
        )

    def create(self, kind: str, name: str, **options: Any) -> Any:
        """Validate ``options`` against the connector's schema and build the connector.

        A feed's callbacks (``on_message``, ``on_error``, ``on_reconnect``) are code, not
        configuration, so they pass through unvalidated.
        """
        spec = self.get(kind, name)
        callbacks = {k: options.pop(k) for k in FEED_CALLBACKS if kind == "feed" and k in options}
        checked = validate_options(spec.options, options, allow_extra=spec.extra_options)
        return spec.load()(**checked, **callbacks)

    def has_export(self, name: str) -> bool:
        return name in self._exports

    def export(self, name: str) -> Any:
        """A public name a plugin exported; ImportError names the package to install."""
        export = self._exports.get(name)
        if export is not None:
            return resolve(export.target)
        dist = BUILTIN_EXPORTS.get(name)
        hint = f"; install it with: pip install {dist}" if dist else ""
        raise ImportError(
            f"cannot import name '{name}' from 'qmtl_core': no installed plugin provides it{hint}"
        )


@functools.cache
def default_registry() -> Registry:
    """The registry of the installed plugins, built on first use."""
    return Registry(make_plugin_manager())


def create(kind: str, name: str, **options: Any) -> Any:
    return default_registry().create(kind, name, **options)
