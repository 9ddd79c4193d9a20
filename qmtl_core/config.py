"""``qmtl.yml``: load, interpolate ``${ENV}``, validate, and build connectors by name.

Every error names the file, the line, the key and what was expected, and all of a
file's errors are reported together. Secrets come back wrapped so that dumping the
config, logging it or raising about it never shows them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from qmtl_core.aio import AsyncBrokerage
from qmtl_core.errors import ConfigError, ConfigErrors, PluginError, shown
from qmtl_core.journal import OrderJournal, open_journal
from qmtl_core.metrics import MetricsExporter, MetricsSettings, check_settings, enable_metrics
from qmtl_core.options import ConnectorConfig, Interpolated, Option, unknown
from qmtl_core.paper_prices import driving_prices
from qmtl_core.redaction import redact
from qmtl_core.registry import Kind, Registry, SectionKey, Shorthand, default_registry
from qmtl_core.state import StateURL, default_state_url, parse_state_url

DOMAINS = ("dryrun", "live")
#: The core's own ``connectors:`` keys. A new top-level key is one more entry here (or a
#: plugin's ``register.section_key``): its value is validated by ``check`` with the file
#: and line, and lands in ``ConnectorsConfig.sections``. ``brokerage`` and ``feed`` are
#: connector sections, validated by the named connector's config.
CORE_KEYS: dict[str, SectionKey] = {
    key.name: key
    for key in (
        SectionKey(
            "execution_domain",
            "`dryrun` (default: every order goes to the installed dryrun brokerage, the "
            "paper broker; the feed is the dryrun feed, fully offline, unless the configured "
            "feed is a live market-data feed, whose trade and ticker prices then drive the "
            "paper broker) or `live` (the named connectors)",
            option=Option("execution_domain", str, "where orders go", default="dryrun"),
        ),
        SectionKey("brokerage", "mapping: `name` of a brokerage connector plus its options"),
        SectionKey("feed", "mapping: `name` of a feed connector plus its options (below)"),
        SectionKey(
            "state",
            "where the order journal (and the rate budget) lives: `sqlite:///relative.db` "
            "(relative to this file's folder), `sqlite:////absolute.db`, "
            "`redis://host:port/db` or `memory://`; default: a SQLite file in "
            "`$QMTL_STATE_DIR` or `~/.local/state/qmtl` (docs/state.md)",
        ),
        SectionKey(
            "metrics",
            "mapping: `port` or `address` of a Prometheus `/metrics` endpoint, served once "
            "the connectors are built (needs `qmtl-core[metrics]`; see docs/metrics.md)",
        ),
    )
}
#: Core keys whose values need more than a config class: the state URL is relative to
#: the file's folder, and the metrics address is checked as one host:port.
_OWN_CHECK = ("state", "metrics")
CONNECTOR_SECTIONS: tuple[Kind, ...] = ("brokerage", "feed")
LIVE_NEEDS_BROKERAGE = "execution_domain 'live' needs a brokerage: set a 'brokerage:' section"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class ConnectorSection:
    """One connector to build: its kind, registered name and validated typed config."""

    kind: str
    name: str
    config: ConnectorConfig

    @property
    def options(self) -> dict[str, Any]:
        """The options as given (canonical names, converted values)."""
        return {k: _plain(v) for k, v in self.config.given().items()}


@dataclass(frozen=True)
class ConnectorsConfig:
    """The validated ``connectors:`` section."""

    execution_domain: str
    brokerage: ConnectorSection | None
    feed: ConnectorSection | None
    source: str | None = None
    #: Values of the other top-level keys (core or plugin-registered), by key.
    sections: Mapping[str, Any] = field(default_factory=dict)
    metrics: MetricsSettings | None = None
    state: StateURL | None = None
    state_line: int | None = None

    def dump(self) -> dict[str, Any]:
        """The resolved config, secrets redacted: safe to print or log."""
        out: dict[str, Any] = {"execution_domain": self.execution_domain}
        if self.state is not None:
            out["state"] = str(self.state)
        for section in (self.brokerage, self.feed):
            if section is not None:
                out[section.kind] = {"name": section.name, **redact(section.options)}
        for key, value in self.sections.items():
            given = value.given() if isinstance(value, ConnectorConfig) else value
            out[key] = redact(_plain(given))
        if self.metrics is not None:
            out["metrics"] = {"address": self.metrics.address}
        return out


class _Context:
    """Where we are in the file, and the errors found so far."""

    def __init__(self, file: str | None) -> None:
        self.file = file
        self.errors: list[ConfigError] = []

    def fail(self, message: str, key: str, node: Any = None, child: Any = None) -> None:
        self.errors.append(ConfigError(message, key=key, file=self.file, line=_line(node, child)))


def _line(node: Any, key: Any = None) -> int | None:
    """1-based line of ``node[key]`` (or of ``node``) when it came from a YAML file."""
    if not isinstance(node, CommentedMap):
        return None
    if key is not None and key in node:
        return int(node.lc.key(key)[0]) + 1
    return int(node.lc.line) + 1


def _interpolate(value: Any, ctx: _Context, path: str, parent: Any, key: Any) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = os.environ.get(name)
            if found is not None:
                return found
            if default is not None:
                return default
            ctx.fail(
                f"environment variable ${{{name}}} is not set; export it or give a default "
                f"with ${{{name}:-value}}",
                path,
                parent,
                key,
            )
            return ""

        variables = tuple(m.group(1) for m in _VAR.finditer(value))
        if not variables:
            return value
        # Marked, so that a number option parses it and an error names the variable.
        return Interpolated(_VAR.sub(substitute, value), variables)
    if isinstance(value, MutableMapping):
        for k in list(value):
            value[k] = _interpolate(value[k], ctx, f"{path}.{k}", value, k)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            value[i] = _interpolate(item, ctx, f"{path}[{i}]", parent, key)
    return value


#: Bounds on what a config may hold: far above any real ``qmtl.yml``, far below what
#: would take a reader minutes (a few aliases can expand to millions of values).
MAX_CONFIG_BYTES = 1_000_000
MAX_CONFIG_DEPTH = 32
MAX_CONFIG_VALUES = 10_000
_EMPTY = "the file is empty; it needs a top-level 'connectors:' mapping (see docs/configuration.md)"


def _read(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[Any, str | None]:
    if isinstance(source, Mapping):
        section = source["connectors"] if "connectors" in source else source
        _check_shape(section, None)
        # A copy: interpolation writes into it, and the caller's mapping stays untouched.
        return _plain(section), None
    path = Path(source)
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", file=file) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{len(data)} bytes is too large for a config file (at most {MAX_CONFIG_BYTES})",
            file=file,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
            file=file,
            line=data.count(b"\n", 0, exc.start) + 1,
        ) from None
    _check_flow_depth(text, file)
    document = _load_yaml(text, file)
    if document is None:
        raise ConfigError(_EMPTY, file=file, line=1)
    if not isinstance(document, Mapping) or "connectors" not in document:
        raise ConfigError("expected a top-level 'connectors:' mapping", file=file, line=1)
    _check_shape(document["connectors"], file)
    return document["connectors"], file


_BRACKETS = re.compile(r"[\[\]{}]")


def _check_flow_depth(text: str, file: str) -> None:
    """Refuse ``[[[[...`` nested past ``MAX_CONFIG_DEPTH`` before the YAML reader sees it:
    its time grows with the square of the depth (a 5000-deep line takes minutes)."""
    depth = 0
    for match in _BRACKETS.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(
                f"nested deeper than {MAX_CONFIG_DEPTH} levels",
                file=file,
                line=text.count("\n", 0, match.start()) + 1,
            )


def _load_yaml(text: str, file: str) -> Any:
    """The YAML document in ``text``; any failure to read it is a ``ConfigError``."""
    # The round-trip loader keeps line numbers and, like the safe loader, never builds
    # arbitrary Python objects from tags.
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = str(exc.problem or exc.context)
        hint = "; indent with spaces, not tabs" if "'\\t'" in problem else ""
        raise ConfigError(
            f"YAML syntax error: {problem}{hint}",
            file=file,
            line=mark.line + 1 if mark is not None else None,
        ) from None
    except RecursionError:
        raise ConfigError(
            f"nested too deeply to read (at most {MAX_CONFIG_DEPTH} levels)", file=file
        ) from None
    except Exception as exc:
        # The YAML library on hostile input (a 20000-digit number, odd merge keys ...):
        # whatever it raises, the file cannot be read, and the user needs to know why.
        raise ConfigError(
            f"cannot read the YAML: {type(exc).__name__}: {shown(str(exc))}", file=file
        ) from None


def _check_shape(section: Any, file: str | None) -> None:
    """Refuse values nested deeper than ``MAX_CONFIG_DEPTH`` or more than
    ``MAX_CONFIG_VALUES`` of them, counting every alias expansion, before anything walks
    them: a few lines of aliases can otherwise expand to millions of values (and an
    alias to itself to infinitely many)."""
    todo: list[tuple[Any, int]] = [(section, 1)]
    seen = 0
    while todo:
        node, depth = todo.pop()
        seen += 1
        if seen > MAX_CONFIG_VALUES:
            raise ConfigError(
                f"holds more than {MAX_CONFIG_VALUES} values (counting YAML aliases as "
                "often as they are used); a connectors section is far smaller",
                key="connectors",
                file=file,
            )
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(
                f"nested deeper than {MAX_CONFIG_DEPTH} levels",
                key="connectors",
                file=file,
                line=_line(node),
            )
        if isinstance(node, Mapping):
            todo.extend((child, depth + 1) for pair in node.items() for child in pair)
        elif isinstance(node, list | tuple):
            todo.extend((child, depth + 1) for child in node)


def parse_connectors(
    source: str | os.PathLike[str] | Mapping[str, Any], *, registry: Registry | None = None
) -> ConnectorsConfig:
    """Validate a ``connectors:`` section (from a path or a mapping) without building anything.

    Everything building checks is checked here, so a config this accepts builds.
    """
    registry = registry or default_registry()
    section, file = _read(source)
    ctx = _Context(file)
    if not isinstance(section, Mapping):
        raise ConfigError("'connectors' must be a mapping of keys", key="connectors", file=file)
    section = _interpolate(section, ctx, "connectors", None, None)
    keys = {**CORE_KEYS, **registry.section_keys()}
    shorthands = registry.shorthands()
    known = [*keys, *shorthands]
    for key in section:
        if key not in known:
            ctx.fail(
                unknown("key", key if isinstance(key, str) else shown(key), known),
                f"connectors.{key}",
                section,
                key,
            )
    values: dict[str, Any] = {}
    for name, key in keys.items():
        if name in section and name not in (*CONNECTOR_SECTIONS, *_OWN_CHECK):
            values[name] = _section_value(key, section, ctx)
    domain = values.pop("execution_domain", "dryrun")
    if domain not in DOMAINS and isinstance(domain, str):
        ctx.fail(
            f"expected one of {', '.join(DOMAINS)}, got {domain!r}",
            "connectors.execution_domain",
            section,
            "execution_domain",
        )
    brokerage, feed = (
        _connector(section, kind, _flat(section, kind, shorthands, ctx), registry, ctx)
        for kind in CONNECTOR_SECTIONS
    )
    if domain == "live" and brokerage is None and not ctx.errors:
        selects = [s.key for s in shorthands.values() if s.kind == "brokerage" and s.selects]
        hint = "".join(f" (or '{key}')" for key in selects)
        ctx.fail(
            LIVE_NEEDS_BROKERAGE + hint, "connectors.execution_domain", section, "execution_domain"
        )
    metrics = _metrics(section, ctx)
    state = _state(section, file, ctx)
    if ctx.errors:
        raise ctx.errors[0] if len(ctx.errors) == 1 else ConfigErrors(ctx.errors)
    return ConnectorsConfig(
        str(domain),
        brokerage,
        feed,
        file,
        values,
        metrics=metrics,
        state=state,
        state_line=_line(section, "state"),
    )


def _with_state(config: Any, state: StateURL | None) -> Any:
    """A brokerage ``config`` that takes a ``state`` (its rate budget's store) and sets
    none gets the section's ``connectors: state:``, so one store serves them all."""
    if state is None or getattr(config, "state", "") is not None:
        return config
    url = f"sqlite:///{state.path}" if state.path is not None else state.url
    return replace(config, state=url)


def _state(section: Mapping[str, Any], file: str | None, ctx: _Context) -> StateURL | None:
    """``connectors: state:``, a relative SQLite path taken from the file's folder."""
    if "state" not in section:
        return None
    value = section["state"]
    try:
        return parse_state_url(
            str(value) if isinstance(value, Interpolated) else value,
            base_dir=Path(file).parent if file is not None else None,
        )
    except ConfigError as exc:
        ctx.fail(exc.message, "connectors.state", section, "state")
        return None


def _metrics(section: Mapping[str, Any], ctx: _Context) -> MetricsSettings | None:
    node = section.get("metrics")
    if node is None:
        return None
    if not isinstance(node, Mapping):
        ctx.fail(
            f"expected a mapping with 'port' or 'address', got {type(node).__name__}",
            "connectors.metrics",
            section,
            "metrics",
        )
        return None
    checked, problems = check_settings(_plain(node))
    for key, message in problems:
        ctx.fail(message, f"connectors.metrics.{key}", node, key)
    return checked


def _section_value(key: SectionKey, section: Mapping[str, Any], ctx: _Context) -> Any:
    """The value of top-level ``key``, validated by its config or option."""
    value = _plain(section[key.name])
    where = f"connectors.{key.name}"
    if key.config is not None:
        node = section[key.name]
        if not isinstance(node, Mapping):
            ctx.fail(f"expected a mapping, got {type(node).__name__}", where, section, key.name)
            return None
        try:
            return key.config.parse(
                value,
                key_name=lambda k: f"{where}.{k}",
                file=ctx.file,
                line_of=lambda k: _line(node, k) if k in node else _line(section, key.name),
            )
        except ConfigError as exc:
            ctx.errors.extend(exc.errors if isinstance(exc, ConfigErrors) else [exc])
            return None
    if key.option is not None:
        try:
            return key.option.check(value)
        except ValueError as exc:
            ctx.fail(str(exc), where, section, key.name)
    return value


def _flat(
    section: Mapping[str, Any], kind: Kind, shorthands: Mapping[str, Shorthand], ctx: _Context
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The seed's flat keys for ``kind`` (e.g. ``broker_url``) as a connector section:
    ``(options with 'name', option -> the key the user wrote)``, or None."""
    mine = [s for s in shorthands.values() if s.kind == kind and s.key in section]
    chosen = [s for s in mine if s.selects]
    if len(chosen) > 1:
        for extra in chosen[1:]:
            ctx.fail(
                f"give one of {', '.join(s.key for s in chosen)}",
                f"connectors.{extra.key}",
                section,
                extra.key,
            )
        return None
    connector = chosen[0].connector if chosen else None
    for s in mine:
        if s.connector != connector:
            selector = next(
                (o.key for o in shorthands.values() if o.connector == s.connector and o.selects),
                "?",
            )
            ctx.fail(
                f"only applies with '{selector}'; inside '{kind}:' use '{s.option}'",
                f"connectors.{s.key}",
                section,
                s.key,
            )
    if not chosen:
        return None
    if kind in section:
        key = chosen[0].key
        ctx.fail(
            f"give either '{key}' or a '{kind}:' section, not both",
            f"connectors.{key}",
            section,
            key,
        )
        return None
    used = [s for s in mine if s.connector == connector]
    options: dict[str, Any] = {"name": connector, **{s.option: section[s.key] for s in used}}
    return options, {"name": chosen[0].key, **{s.option: s.key for s in used}}


def _connector(
    section: Mapping[str, Any],
    kind: Kind,
    flat: tuple[dict[str, Any], dict[str, str]] | None,
    registry: Registry,
    ctx: _Context,
) -> ConnectorSection | None:
    if flat is not None:
        node: Any = flat[0]
        written = flat[1]
        prefix = "connectors."

        def user_key(key: str) -> str:
            return written.get(key, key)

        def line_of(key: str) -> int | None:
            return _line(section, user_key(key))

    else:
        node = section.get(kind)
        prefix = f"connectors.{kind}."
        if node is None:
            return None
        if not isinstance(node, Mapping):
            ctx.fail(
                f"expected a mapping with 'name' and options, got {type(node).__name__}",
                f"connectors.{kind}",
                section,
                kind,
            )
            return None

        def user_key(key: str) -> str:
            return key

        def line_of(key: str) -> int | None:
            # A missing option points at the section's own line.
            return _line(node, key) if key in node else _line(section, kind)

    def fail(message: str, key: str) -> None:
        ctx.errors.append(
            ConfigError(message, key=prefix + user_key(key), file=ctx.file, line=line_of(key))
        )

    name = node.get("name")
    if not isinstance(name, str):
        fail(f"'name' is required: which {kind} connector to use", "name")
        return None
    options = {k: _plain(v) for k, v in node.items() if k != "name"}
    try:
        checked = registry.validate(
            kind,
            name,
            options,
            key_name=lambda key: prefix + user_key(key),
            file=ctx.file,
            line_of=line_of,
        )
    except ConfigError as exc:
        ctx.errors.extend(exc.errors if isinstance(exc, ConfigErrors) else [exc])
        return None
    except LookupError as exc:
        fail(str(exc), "name")
        return None
    return ConnectorSection(kind, name, checked)


def _plain_key(key: Any) -> Any:
    """A mapping key as plain Python: a scalar stays itself, anything else (YAML allows
    ``? [a, b]`` as a key) becomes text that an "unknown key" error can show."""
    plain = _plain(key)
    odd = isinstance(plain, list | dict) or (isinstance(plain, int) and plain.bit_length() > 64)
    return shown(plain) if odd else plain


def _plain(value: Any) -> Any:
    """Plain Python values, not ruamel's round-trip types (``ScalarFloat``, ``CommentedMap``
    ...), so connectors and config dumps never meet YAML-library objects."""
    if isinstance(value, Mapping):
        return {_plain_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or type(value) in (bool, int, float, str) or isinstance(value, Interpolated):
        return value
    if isinstance(value, ScalarBoolean):  # an int subclass: test it before int
        return bool(value)
    for plain in (int, float, str):
        if isinstance(value, plain):
            return plain(value)
    return value


class Connectors:
    """Connectors built from config: ``.brokerage`` and ``.feed(on_message=...)``.

    Built by :func:`load_connectors`; each connector is built on first use, so a
    config can be checked without connecting anywhere.

    Args:
        config: the validated ``connectors:`` section (:func:`parse_connectors`).
        registry: the plugin registry (default: the installed plugins).
    """

    def __init__(self, config: ConnectorsConfig, registry: Registry | None = None) -> None:
        self.config = config
        self._registry = registry or default_registry()
        self.metrics: MetricsExporter | None = None

    @property
    def execution_domain(self) -> str:
        """``dryrun`` (orders go to the paper brokerage) or ``live``."""
        return self.config.execution_domain

    def with_domain(self, execution_domain: str) -> Connectors:
        """The same connectors in another execution domain (e.g. a ``--domain`` flag)."""
        if execution_domain not in DOMAINS:
            raise ConfigError(
                f"expected one of {', '.join(DOMAINS)}, got {execution_domain!r}",
                key="connectors.execution_domain",
            )
        if execution_domain == "live" and self.config.brokerage is None:
            raise ConfigError(
                LIVE_NEEDS_BROKERAGE,
                key="connectors.execution_domain",
                file=self.config.source,
            )
        other = Connectors(replace(self.config, execution_domain=execution_domain), self._registry)
        other.metrics = self.metrics  # one endpoint per process, whatever the domain
        return other

    @property
    def dryrun(self) -> bool:
        """True in the ``dryrun`` domain."""
        return self.execution_domain == "dryrun"

    def start_metrics(self) -> MetricsExporter | None:
        """Serve ``/metrics`` if the config asks for it (once); building a connector calls it."""
        wanted = self.config.metrics
        if wanted is not None and self.metrics is None:
            self.metrics = enable_metrics(address=wanted.address, registry=self._registry)
        return self.metrics

    @cached_property
    def journal(self) -> OrderJournal:
        """The order journal of ``state:`` (default: a SQLite file, see docs/state.md),
        opened on first use. In ``dryrun`` it is in memory, like the paper broker."""
        state = self.config.state
        if self.dryrun:
            state = parse_state_url("memory://")
        try:
            return open_journal(state if state is not None else default_state_url())
        except ConfigError as exc:
            raise ConfigError(
                exc.message,
                key="connectors.state",
                file=self.config.source,
                line=self.config.state_line,
            ) from None

    @cached_property
    def brokerage(self) -> Any:
        """The brokerage client, journaling in :attr:`journal`. In ``dryrun`` it is always
        the dryrun (paper) brokerage."""
        self.start_metrics()
        configured = self.config.brokerage
        if self.dryrun:
            paper = self._registry.dryrun_connector("brokerage")
            if configured is not None and configured.name == paper.name:
                # The paper brokerage itself is configured: its options (prices) apply.
                client = self._registry.build("brokerage", paper.name, configured.config)
            else:
                futures = (
                    configured is not None
                    and self._registry.get("brokerage", configured.name).futures
                )
                client = self._registry.create("brokerage", paper.name, futures=futures)
        else:
            assert configured is not None
            config = _with_state(configured.config, self.config.state)
            client = self._registry.build("brokerage", configured.name, config)
        if callable(getattr(client, "set_journal", None)):
            client.set_journal(self.journal)
        if self.metrics is not None:
            self.metrics.watch_client(client)
        return client

    @cached_property
    def async_brokerage(self) -> AsyncBrokerage:
        """The async twin of :attr:`brokerage` (``await`` its ``post_order``,
        ``poll_order_status``, ``cancel_order``; see ``qmtl_core.aio``)."""
        return AsyncBrokerage(self.brokerage)

    def close(self) -> None:
        """Close the journal if it was opened (its lease is given up)."""
        if "journal" in self.__dict__:
            self.journal.close()

    def feed(self, on_message: Any, **callbacks: Any) -> Any:
        """Build the feed; ``dryrun`` gives the dryrun feed, or runs a configured live
        market-data feed (one registered with ``prices=True``) whose trade and ticker
        prices drive the dryrun brokerage: paper trading on live prices
        (``qmtl_core.paper_prices``).

        Args:
            on_message: ``async def on_message(message: dict)``, called for each message.
            callbacks: ``on_error``, ``on_reconnect`` (see the feed's class).

        Raises:
            ConfigError: ``live`` with no ``feed:`` section configured.
        """
        self.start_metrics()
        configured = self.config.feed
        if not self.dryrun and configured is None:
            raise ConfigError(
                "execution_domain 'live' has no feed configured: set a 'feed:' section "
                "(e.g. 'feed: {name: websocket, url: wss://...}' or the flat 'ws_url')",
                key="connectors.feed",
                file=self.config.source,
            )
        if configured is None or (self.dryrun and not self.paper_on_live_prices):
            paper = self._registry.dryrun_connector("feed")
            return self._registry.create("feed", paper.name, on_message=on_message, **callbacks)
        if self.dryrun:
            on_message = driving_prices(self._paper_update_price(configured.name), on_message)
        return self._registry.build(
            "feed", configured.name, configured.config, on_message=on_message, **callbacks
        )

    @property
    def paper_on_live_prices(self) -> bool:
        """True in ``dryrun`` when the configured feed is a live market-data feed (one
        registered with ``prices=True``): its prices drive the paper broker."""
        configured = self.config.feed
        return (
            self.dryrun
            and configured is not None
            and self._registry.get("feed", configured.name).prices
        )

    def _paper_update_price(self, feed: str) -> Any:
        """The dryrun brokerage's ``update_price(symbol, price)``, which live prices drive."""
        update = getattr(self.brokerage, "update_price", None)
        if not callable(update):
            raise PluginError(
                f"the dryrun brokerage {type(self.brokerage).__name__} has no "
                f"update_price(symbol, price): feed '{feed}' cannot drive its prices"
            )
        return update

    def __repr__(self) -> str:
        return f"Connectors({self.config.dump()!r})"


def load_connectors(
    source: str | os.PathLike[str] | Mapping[str, Any], *, registry: Registry | None = None
) -> Connectors:
    """Read a ``qmtl.yml`` (path) or mapping; connectors are built on first use.

    Args:
        source: a path to ``qmtl.yml``, or a mapping (with or without the top-level
            ``connectors`` key).
        registry: the plugin registry (default: the installed plugins).

    Raises:
        ConfigError: one mistake, naming the key, the file and line, and the fix.
        ConfigErrors: several mistakes, each a ``ConfigError``.
    """
    return Connectors(parse_connectors(source, registry=registry), registry)
