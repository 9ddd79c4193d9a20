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

from qmtl_core.errors import ConfigError, ConfigErrors
from qmtl_core.options import did_you_mean
from qmtl_core.redaction import redact
from qmtl_core.registry import Registry, default_registry
from qmtl_core.state import StateURL, parse_state_url

DOMAINS = ("dryrun", "live")
#: Every key of the ``connectors:`` section, with what it means (also the config docs).
SECTION_KEYS: dict[str, str] = {
    "execution_domain": "`dryrun` (default: every order goes to the fake paper broker and "
    "the feed is the in-memory fake, fully offline) or `live` (the named connectors)",
    "brokerage": "mapping: `name` of a brokerage connector plus its options (below)",
    "feed": "mapping: `name` of a feed connector plus its options (below)",
    "broker_url": "seed shorthand for `brokerage: {name: http, url: ...}`",
    "trade_max_retries": "with `broker_url`: the http brokerage's `max_retries`",
    "trade_backoff": "with `broker_url`: the http brokerage's `backoff` (seconds)",
    "ws_url": "seed shorthand for `feed: {name: websocket, url: ...}`",
    "state": "where state shared by processes lives: `sqlite:///state.db` (relative to "
    "this file), `redis://host:port/db` or `memory://`; the brokerage's rate budget uses it",
}
LIVE_NEEDS_BROKERAGE = (
    "execution_domain 'live' needs a brokerage: set 'broker_url' or a 'brokerage:' section"
)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class ConnectorConfig:
    """One connector to build: its kind, registered name and validated options."""

    kind: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectorsConfig:
    """The validated ``connectors:`` section."""

    execution_domain: str
    brokerage: ConnectorConfig | None
    feed: ConnectorConfig | None
    source: str | None = None
    state: StateURL | None = None

    def dump(self) -> dict[str, Any]:
        """The resolved config, secrets redacted: safe to print or log."""
        out: dict[str, Any] = {"execution_domain": self.execution_domain}
        if self.state is not None:
            out["state"] = str(self.state)
        for section in (self.brokerage, self.feed):
            if section is not None:
                out[section.kind] = {"name": section.name, **redact(section.options)}
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

        return _VAR.sub(substitute, value)
    if isinstance(value, MutableMapping):
        for k in list(value):
            value[k] = _interpolate(value[k], ctx, f"{path}.{k}", value, k)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            value[i] = _interpolate(item, ctx, f"{path}[{i}]", parent, key)
    return value


def _read(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[Any, str | None]:
    if isinstance(source, Mapping):
        # A copy: interpolation writes into it, and the caller's mapping stays untouched.
        return _plain(source["connectors"] if "connectors" in source else source), None
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", file=str(path)) from None
    # The round-trip loader keeps line numbers and, like the safe loader, never builds
    # arbitrary Python objects from tags.
    try:
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            f"YAML syntax error: {exc.problem or exc.context}", file=str(path), line=line
        ) from None
    if not isinstance(document, Mapping) or "connectors" not in document:
        raise ConfigError("expected a top-level 'connectors:' mapping", file=str(path), line=1)
    return document["connectors"], str(path)


def parse_connectors(
    source: str | os.PathLike[str] | Mapping[str, Any], *, registry: Registry | None = None
) -> ConnectorsConfig:
    """Validate a ``connectors:`` section (from a path or a mapping) without building anything."""
    registry = registry or default_registry()
    section, file = _read(source)
    ctx = _Context(file)
    if not isinstance(section, Mapping):
        raise ConfigError("'connectors' must be a mapping of keys", key="connectors", file=file)
    section = _interpolate(section, ctx, "connectors", None, None)
    for key in section:
        if key not in SECTION_KEYS:
            ctx.fail(
                f"unknown key{did_you_mean(str(key), list(SECTION_KEYS))} "
                f"(known: {', '.join(SECTION_KEYS)})",
                f"connectors.{key}",
                section,
                key,
            )

    domain = section.get("execution_domain", "dryrun")
    if domain not in DOMAINS:
        ctx.fail(
            f"expected one of {', '.join(DOMAINS)}, got {domain!r}",
            "connectors.execution_domain",
            section,
            "execution_domain",
        )

    state = _state(section, ctx)
    brokerage = _connector(section, "brokerage", _flat_brokerage(section, ctx), registry, ctx)
    feed = _connector(section, "feed", _flat_feed(section, ctx), registry, ctx)
    if domain == "live" and brokerage is None and not ctx.errors:
        ctx.fail(LIVE_NEEDS_BROKERAGE, "connectors.execution_domain", section, "execution_domain")
    if ctx.errors:
        raise ctx.errors[0] if len(ctx.errors) == 1 else ConfigErrors(ctx.errors)
    return ConnectorsConfig(str(domain), brokerage, feed, file, state)


# --- connectors: state: (rate budget; the order journal reads the same key) ---------


def _state(section: Mapping[str, Any], ctx: _Context) -> StateURL | None:
    """The parsed ``state`` URL; a relative SQLite path is relative to the config file."""
    if "state" not in section:
        return None
    base = Path(ctx.file).parent if ctx.file else None
    try:
        return parse_state_url(section["state"], base_dir=base)
    except ConfigError as exc:
        ctx.fail(exc.message, "connectors.state", section, "state")
        return None


def _with_state(
    options: dict[str, Any], state: StateURL | None, spec_options: Any
) -> dict[str, Any]:
    """``options`` plus ``state`` when the connector takes one and the section sets it."""
    takes_state = any(option.name == "state" for option in spec_options)
    if state is None or not takes_state or "state" in options:
        return options
    url = f"sqlite:///{state.path}" if state.path is not None else state.url
    return {**options, "state": url}


def _flat_brokerage(section: Mapping[str, Any], ctx: _Context) -> dict[str, Any] | None:
    url = section.get("broker_url")
    trade = {k: section[k] for k in ("trade_max_retries", "trade_backoff") if k in section}
    if url is None:
        for key in trade:
            ctx.fail(
                "only applies with 'broker_url'; inside 'brokerage:' use "
                f"'{key.removeprefix('trade_')}'",
                f"connectors.{key}",
                section,
                key,
            )
        return None
    if "brokerage" in section:
        ctx.fail(
            "give either 'broker_url' or a 'brokerage:' section, not both",
            "connectors.broker_url",
            section,
            "broker_url",
        )
        return None
    options: dict[str, Any] = {"name": "http", "url": url}
    if "trade_max_retries" in trade:
        options["max_retries"] = trade["trade_max_retries"]
    if "trade_backoff" in trade:
        options["backoff"] = trade["trade_backoff"]
    return options


def _flat_feed(section: Mapping[str, Any], ctx: _Context) -> dict[str, Any] | None:
    url = section.get("ws_url")
    if url is None:
        return None
    if "feed" in section:
        ctx.fail(
            "give either 'ws_url' or a 'feed:' section, not both",
            "connectors.ws_url",
            section,
            "ws_url",
        )
        return None
    return {"name": "websocket", "url": url}


# The seed's flat keys, by the option they stand for: errors name what the user wrote.
_FLAT_KEYS = {
    "brokerage": {
        "name": "broker_url",
        "url": "broker_url",
        "max_retries": "trade_max_retries",
        "backoff": "trade_backoff",
    },
    "feed": {"name": "ws_url", "url": "ws_url"},
}


def _connector(
    section: Mapping[str, Any],
    kind: str,
    flat: dict[str, Any] | None,
    registry: Registry,
    ctx: _Context,
) -> ConnectorConfig | None:
    if flat is not None:
        node: Any = flat
        prefix = "connectors."

        def user_key(key: str) -> str:
            return _FLAT_KEYS[kind].get(key, key)

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
    options = {k: v for k, v in node.items() if k != "name"}
    try:
        checked = registry.validate(
            kind,
            name,
            options,
            key_name=lambda key: prefix + user_key(key),
            file=ctx.file,
            line_of=line_of,
        )
    except ConfigErrors as exc:
        ctx.errors.extend(exc.errors)
        return None
    except ConfigError as exc:
        ctx.errors.append(exc)
        return None
    except LookupError as exc:
        fail(str(exc), "name")
        return None
    return ConnectorConfig(kind, name, {k: _plain(v) for k, v in checked.items()})


def _plain(value: Any) -> Any:
    """Plain Python values, not ruamel's round-trip types (``ScalarFloat``, ``CommentedMap``
    ...), so connectors and config dumps never meet YAML-library objects."""
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, ScalarBoolean):  # an int subclass: test it before int
        return bool(value)
    for plain in (int, float, str):
        if isinstance(value, plain):
            return plain(value)
    return value


class Connectors:
    """Connectors built from config: ``.brokerage`` and ``.feed(on_message=...)``."""

    def __init__(self, config: ConnectorsConfig, registry: Registry | None = None) -> None:
        self.config = config
        self._registry = registry or default_registry()

    @property
    def execution_domain(self) -> str:
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
        return Connectors(replace(self.config, execution_domain=execution_domain), self._registry)

    @property
    def dryrun(self) -> bool:
        return self.execution_domain == "dryrun"

    @cached_property
    def brokerage(self) -> Any:
        """The brokerage client. In ``dryrun`` it is always the fake paper broker."""
        configured = self.config.brokerage
        if self.dryrun:
            futures = (
                configured is not None and self._registry.get("brokerage", configured.name).futures
            )
            return self._registry.create("brokerage", "fake", futures=futures)
        assert configured is not None
        spec = self._registry.get("brokerage", configured.name)
        options = _with_state(configured.options, self.config.state, spec.options)
        return self._registry.create("brokerage", configured.name, **options)

    def feed(self, on_message: Any, **callbacks: Any) -> Any:
        """Build the feed; ``dryrun`` (or no feed configured) gives the in-memory fake feed."""
        configured = self.config.feed
        if self.dryrun or configured is None:
            return self._registry.create("feed", "fake", on_message=on_message, **callbacks)
        return self._registry.create(
            "feed", configured.name, on_message=on_message, **callbacks, **configured.options
        )

    def __repr__(self) -> str:
        return f"Connectors({self.config.dump()!r})"


def load_connectors(
    source: str | os.PathLike[str] | Mapping[str, Any], *, registry: Registry | None = None
) -> Connectors:
    """Read a ``qmtl.yml`` (path) or mapping; connectors are built on first use."""
    return Connectors(parse_connectors(source, registry=registry), registry)
