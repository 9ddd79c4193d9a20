"""Connector names -> factories, filled by plugins through ``register_connectors``.

``create(kind, name, **options)`` is the one way configuration turns into a live
connector: options are validated into the connector's typed config first, then the
factory (possibly a lazy ``"module:attr"`` string) is called with it. Everything the
core used to know about particular plugins is data registered here: the connector
standing in for each kind in ``dryrun``, the seed's flat ``connectors:`` keys
(``broker_url`` ...), extra top-level keys, and the public names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, get_args

from qmtl_core.entry_points import resolve
from qmtl_core.errors import PluginError, UnknownConnectorError
from qmtl_core.events import Events
from qmtl_core.plugins import PluginFailure, PluginSet, make_plugin_manager, provider_hint

if TYPE_CHECKING:
    # Imported where used: listing connectors whose configs are named by strings
    # builds no config dataclass at all.
    from qmtl_core.options import ConnectorConfig, Locator, Option

Kind = Literal["brokerage", "feed"]
KINDS: tuple[str, ...] = get_args(Kind)
Factory = Callable[..., Any] | str
#: A connector's config class, or a ``"module:attr"`` string naming it (imported on first
#: use, like a lazy factory, so that listing connectors imports no config module).
ConfigTarget = type["ConnectorConfig"] | str
FEED_CALLBACKS = ("on_message", "on_error", "on_reconnect")
#: The config of a connector registered without one.
NO_OPTIONS = "qmtl_core.options:NoOptions"


def _is_config_class(target: object) -> TypeGuard[type[ConnectorConfig]]:
    from qmtl_core.options import ConnectorConfig

    return isinstance(target, type) and issubclass(target, ConnectorConfig)


@dataclass(frozen=True)
class ConnectorSpec:
    """What a plugin registered for one connector name."""

    kind: Kind
    name: str
    factory: Factory
    config_target: ConfigTarget
    plugin: str
    distribution: str | None
    version: str | None
    summary: str = ""
    oco: str | None = None
    futures: bool = False
    dryrun: bool = False
    prices: bool = False

    @functools.cached_property
    def config(self) -> type[ConnectorConfig]:
        """The config class, imported now if it was registered as a ``"module:attr"`` string.

        A string that does not import, or names no :class:`ConnectorConfig` subclass,
        raises :class:`PluginError` naming the plugin (listing does not import it).
        """
        target: object = self.config_target
        if isinstance(target, str):
            try:
                target = resolve(target)
            except Exception as exc:
                raise PluginError(
                    f"{self.kind} '{self.name}' ({self.distribution or self.plugin}): its "
                    f"config {self.config_target!r} does not load: {type(exc).__name__}: {exc}"
                ) from exc
        if not _is_config_class(target):
            raise PluginError(
                f"{self.kind} '{self.name}' ({self.distribution or self.plugin}): config must "
                f"be a ConnectorConfig subclass, got {target!r}"
            )
        return target

    @property
    def options(self) -> tuple[Option, ...]:
        return self.config.schema()

    @property
    def extra_options(self) -> bool:
        return self.config.extra_options

    def load(self) -> Callable[..., Any]:
        factory: Callable[..., Any] = resolve(self.factory)
        return factory


@dataclass(frozen=True)
class Export:
    """A public name a plugin makes importable from ``qmtl_core``, and where it lives."""

    name: str
    target: Factory
    plugin: str
    distribution: str | None


@dataclass(frozen=True)
class Shorthand:
    """A flat ``connectors:`` key standing for one option of one connector (the seed's
    ``broker_url`` is ``brokerage: {name: http, url: ...}``).

    A key that ``selects`` picks the connector; the others only apply alongside it.
    """

    key: str
    kind: Kind
    connector: str
    option: str
    help: str
    selects: bool = False


@dataclass(frozen=True)
class SectionKey:
    """A top-level ``connectors:`` key other than a connector section.

    Its value is a mapping validated into ``config``, or a scalar checked by ``option``;
    either way ``check`` reports errors with the file, line and key.
    """

    name: str
    help: str
    config: type[ConnectorConfig] | None = None
    option: Option | None = None


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
        config: ConfigTarget = NO_OPTIONS,
        summary: str = "",
        oco: str | None = None,
        futures: bool = False,
        dryrun: bool = False,
        prices: bool = False,
    ) -> None:
        """Register connector ``name`` of ``kind`` ("brokerage" or "feed").

        ``factory(config, **callbacks)`` builds it from a validated instance of
        ``config`` (a :class:`ConnectorConfig` subclass, or a ``"module:attr"`` string
        naming one, imported on first use so that listing connectors stays cheap).
        ``oco`` describes OCO support for listings ("emulated", "manual",
        "exchange-dependent"); ``futures`` marks a futures brokerage; ``dryrun`` makes
        this the connector of its kind in the ``dryrun`` domain (a dryrun brokerage's
        config has a ``futures`` option); ``prices`` marks a market-data feed whose
        trade and ticker messages carry prices: ``dryrun`` then runs it and trades on
        its prices (``qmtl_core.paper_prices``).
        """
        if kind not in KINDS:
            raise PluginError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not (isinstance(config, str) or _is_config_class(config)):
            raise PluginError(f"{name}: config must be a ConnectorConfig subclass, got {config!r}")
        spec = ConnectorSpec(
            kind,
            name,
            factory,
            config,
            self._plugin,
            self._distribution,
            self._version,
            summary,
            oco,
            futures,
            dryrun,
            prices,
        )
        self._registry._add(spec)

    def export(self, name: str, target: Factory) -> None:
        """Make ``name`` importable as ``from qmtl_core import name``."""
        self._registry._exports.setdefault(
            name, Export(name, target, self._plugin, self._distribution)
        )

    def shorthand(
        self, key: str, kind: Kind, connector: str, option: str, help: str, *, selects: bool = False
    ) -> None:
        """Accept the flat ``connectors:`` ``key`` as ``option`` of ``connector``."""
        self._registry._shorthands.setdefault(
            key, Shorthand(key, kind, connector, option, help, selects)
        )

    def section_key(self, key: SectionKey) -> None:
        """Accept another top-level ``connectors:`` key (see :class:`SectionKey`)."""
        self._registry._section_keys.setdefault(key.name, key)


class Registry:
    """All connectors the loaded plugins registered, keyed by (kind, name).

    ``events`` delivers to this registry's observers; every connector it builds
    reports there.
    """

    def __init__(self, plugins: PluginSet) -> None:
        self.plugins = plugins
        self.events = Events(lambda: plugins.manager)
        self._specs: dict[tuple[str, str], ConnectorSpec] = {}
        self._exports: dict[str, Export] = {}
        self._shorthands: dict[str, Shorthand] = {}
        self._section_keys: dict[str, SectionKey] = {}
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

    def _drop_plugin(self, plugin: str) -> None:
        self._specs = {k: s for k, s in self._specs.items() if s.plugin != plugin}
        self._exports = {k: e for k, e in self._exports.items() if e.plugin != plugin}

    def connectors(self, kind: Kind | None = None) -> list[ConnectorSpec]:
        return sorted(
            (s for s in self._specs.values() if kind is None or s.kind == kind),
            key=lambda s: (s.kind, s.name),
        )

    def shorthands(self) -> dict[str, Shorthand]:
        """The flat ``connectors:`` keys the installed plugins accept, by key."""
        return dict(self._shorthands)

    def section_keys(self) -> dict[str, SectionKey]:
        """The extra top-level ``connectors:`` keys the installed plugins accept."""
        return dict(self._section_keys)

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
        from qmtl_core.options import did_you_mean

        message = f"no {kind} connector named '{name}'{did_you_mean(name, installed)}"
        message += f" (installed: {', '.join(installed) or 'none'})"
        raise UnknownConnectorError(
            message + provider_hint(f"{kind}:{name}") + self._failures_note()
        )

    def _failures_note(self) -> str:
        """The plugins that failed to load: one of them may be the connector looked for."""
        failures = self.plugins.failures
        if not failures:
            return ""
        listed = "; ".join(
            f"{f.name} ({f.distribution or f.entry_point}): {f.error}" for f in failures
        )
        return (
            f"; {len(failures)} installed plugin(s) failed to load, which may provide it: "
            f"{listed} (see `qmtl-connectors plugins`)"
        )

    def dryrun_connector(self, kind: Kind) -> ConnectorSpec:
        """The connector that every config of ``kind`` uses in the ``dryrun`` domain."""
        found = [s for s in self.connectors(kind) if s.dryrun]
        if len(found) == 1:
            return found[0]
        if not found:
            raise UnknownConnectorError(
                f"no installed plugin provides the dryrun {kind} (the paper stand-in)"
                + provider_hint(f"dryrun:{kind}")
            )
        names = ", ".join(f"'{s.name}' ({s.distribution or s.plugin})" for s in found)
        raise PluginError(
            f"several plugins provide the dryrun {kind}: {names}; block all but one with "
            "QMTL_DISABLE_PLUGINS"
        )

    def validate(
        self,
        kind: str,
        name: str,
        options: Mapping[str, Any],
        *,
        key_name: Callable[[str], str] = str,
        file: str | None = None,
        line_of: Locator | None = None,
    ) -> ConnectorConfig:
        """Options for connector ``name`` as its typed config, without building it."""
        spec = self.get(kind, name)
        return spec.config.parse(options, key_name=key_name, file=file, line_of=line_of)

    def build(self, kind: str, name: str, config: ConnectorConfig, **callbacks: Any) -> Any:
        """Build connector ``name`` from its validated ``config``; it reports to ``events``.

        A feed's callbacks (``on_message``, ``on_error``, ``on_reconnect``) are code, not
        configuration: they go to the factory beside the config.
        """
        spec = self.get(kind, name)
        if not isinstance(config, spec.config):
            raise TypeError(f"{kind} '{name}' is built from {spec.config.__name__}, got {config!r}")
        connector = spec.load()(config, **callbacks)
        if hasattr(connector, "events"):
            connector.events = self.events
        return connector

    def create(self, kind: str, name: str, **options: Any) -> Any:
        """Validate ``options`` into the connector's config, then build the connector."""
        callbacks = {k: options.pop(k) for k in FEED_CALLBACKS if kind == "feed" and k in options}
        config = self.validate(kind, name, options)
        return self.build(kind, name, config, **callbacks)

    def has_export(self, name: str) -> bool:
        return name in self._exports

    def export_names(self) -> list[str]:
        """The public names the loaded plugins export, sorted."""
        return sorted(self._exports)

    def export(self, name: str) -> Any:
        """A public name a plugin exported; ImportError names the package to install."""
        export = self._exports.get(name)
        if export is not None:
            return resolve(export.target)
        hint = provider_hint(f"export:{name}")
        raise ImportError(
            f"cannot import name '{name}' from 'qmtl_core': no installed plugin provides it{hint}"
        )


@functools.cache
def default_registry() -> Registry:
    """The registry of the installed plugins, built on first use."""
    return Registry(make_plugin_manager())


def create(kind: str, name: str, **options: Any) -> Any:
    return default_registry().create(kind, name, **options)
