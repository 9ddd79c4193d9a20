"""Connector settings: one typed, frozen config class per connector, declared once.

A connector declares its options as a frozen dataclass deriving from
:class:`ConnectorConfig`, each field a :func:`setting` (help, aliases, bounds, URL
schemes, choices); the field's type is the option's type and a field without a
default is required. That one declaration validates ``qmtl.yml`` (``check``, with
file and line), validates ``registry.create(...)`` and direct constructor calls,
is what the factory receives, and renders the configuration reference. A
connector's rules that span several options go in :meth:`ConnectorConfig.check`.

Stdlib dataclasses rather than a validation library: the core stays at three small
dependencies, a config module costs only ``dataclasses`` to import (``plugins``
listing stays fast), and the validator is this one file.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

from qmtl_core.errors import ConfigError, ConfigErrors, shown
from qmtl_core.redaction import REDACTED, Secret, is_secret_key, redact, redact_url

_RULE = "qmtl"
_TYPE_NAMES = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "true/false",
    dict: "mapping",
    list: "list",
    Secret: "text",
}
_BOOLEAN_TEXT = {"true": True, "yes": True, "on": True, "1": True}
_BOOLEAN_TEXT.update({"false": False, "no": False, "off": False, "0": False})
C = TypeVar("C", bound="ConnectorConfig")


class Interpolated(str):
    """Text that came (at least partly) from ``${VAR}``: a number option parses it."""

    variables: tuple[str, ...]

    def __new__(cls, text: str, variables: tuple[str, ...]) -> Self:
        self = super().__new__(cls, text)
        self.variables = variables
        return self


@dataclass(frozen=True)
class Rule:
    """What a :func:`setting` adds to its field's type: help and the value's bounds."""

    help: str
    aliases: tuple[str, ...] = ()
    minimum: float | None = None  # value >= minimum
    above: float | None = None  # value > above
    schemes: tuple[str, ...] = ()  # a URL with one of these schemes and a host
    choices: tuple[Any, ...] | None = None
    #: Checks and normalises the typed value (e.g. ``"40/1s"`` text); raises ``ValueError``.
    convert: Callable[[Any], Any] | None = None


def setting(
    help: str,
    *,
    default: Any = dataclasses.MISSING,
    aliases: tuple[str, ...] = (),
    minimum: float | None = None,
    above: float | None = None,
    schemes: tuple[str, ...] = (),
    choices: tuple[Any, ...] | None = None,
    convert: Callable[[Any], Any] | None = None,
) -> Any:
    """One option of a connector config: a dataclass field carrying its :class:`Rule`.

    Omit ``default`` for a required option. ``default`` may be a dict or list: each
    config gets its own copy.
    """
    rule = Rule(help, aliases, minimum, above, schemes, choices, convert)
    meta = {_RULE: rule}
    if isinstance(default, dict | list):
        factory: Callable[[], Any] = functools.partial(type(default), default)
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class Option:
    """One option of a connector, resolved from its config class (validation and docs)."""

    name: str
    type: type
    help: str
    required: bool = False
    default: Any = None
    aliases: tuple[str, ...] = ()
    choices: tuple[Any, ...] | None = None
    optional: bool = True  # None is accepted (the connector's "not set")
    rule: Rule | None = None

    @property
    def secret(self) -> bool:
        return self.type is Secret or is_secret_key(self.name)

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES.get(self.type, self.type.__name__)

    def check(self, value: Any) -> Any:
        """``value`` converted to this option's type and within its bounds, or ``ValueError``."""
        if value is None and self.optional and not self.required:
            return None
        value = self._convert(value)
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise ValueError(f"expected one of {allowed}, got {self._shown(value)}")
        rule = self.rule
        if rule is None:
            return value
        if rule.convert is not None:
            value = rule.convert(value)
        if rule.minimum is not None and not value >= rule.minimum:
            raise ValueError(f"must be {_number(rule.minimum)} or more, got {self._shown(value)}")
        if rule.above is not None and not value > rule.above:
            raise ValueError(f"must be more than {_number(rule.above)}, got {self._shown(value)}")
        if rule.schemes:
            check_url(value, rule.schemes)
        return value

    def _shown(self, value: Any) -> str:
        """``value`` as an error message may show it: never a secret option's value (of
        any type), never a URL password, never thousands of characters."""
        return REDACTED if self.secret else shown(redact(value))

    def _convert(self, value: Any) -> Any:
        kind = self.type
        if isinstance(value, Interpolated) and kind in (int, float, bool):
            return _parse_interpolated(value, kind, self.type_name)
        if isinstance(value, Interpolated):
            value = str(value)
        if kind is Secret and isinstance(value, Secret):
            return value
        if kind is Secret and isinstance(value, str):
            return Secret(value)
        if kind is str and isinstance(value, Secret) and self.secret:
            return value
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif kind is dict and isinstance(value, Mapping):
            value = dict(value)
        elif kind is list and isinstance(value, tuple):
            value = list(value)
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(
                f"expected {self.type_name}, got {type(value).__name__} {self._shown(value)}"
            )
        if kind is float and not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value}")
        if kind is str and self.secret:
            return Secret(value)
        return value


def _number(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _parse_interpolated(value: Interpolated, kind: type, type_name: str) -> Any:
    text = value.strip()
    try:
        if kind is bool:
            return _BOOLEAN_TEXT[text.lower()]
        return kind(text)
    except (KeyError, ValueError):
        variables = ", ".join(f"${{{v}}}" for v in value.variables)
        raise ValueError(
            f"{variables} gives {shown(str(value))}, which is not a {type_name}; "
            f"set {'/'.join(value.variables)} to a {type_name}"
        ) from None


def check_url(value: str, schemes: tuple[str, ...]) -> None:
    """``ValueError`` unless ``value`` is a URL with one of ``schemes``, a host and a valid port."""
    from urllib.parse import urlsplit

    parts = urlsplit(value.strip())
    wanted = " or ".join(f"{s}://" for s in schemes)
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ValueError(f"invalid port in {redact_url(value)!r}: {exc}") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(
            f"expected a {wanted} URL with a host, got {redact_url(value)!r}"
            + ("; add the scheme" if "://" not in value else "")
        )


def whole_number(name: str, value: Any, minimum: int) -> int:
    """``value`` if it is an int (not a bool) >= ``minimum``, else a ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"must be a whole number >= {minimum}, got {shown(value)}", key=name)
    return value


def number(name: str, value: Any, *, positive: bool, unit: str = "number") -> float:
    """``value`` as a float that is > 0 (``positive``) or >= 0; else a ConfigError naming ``name``.

    NaN fails both bounds, so it is refused too.
    """
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok:
        ok = value > 0 if positive else value >= 0
    if not ok:
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(f"must be a {unit} {bound}, got {shown(value)}", key=name)
    return float(value)


def did_you_mean(word: str, choices: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the choice closest to ``word``, or ``""``."""
    import difflib  # only a mistake needs it, not every start

    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def unknown(what: str, word: str, known: list[str]) -> str:
    """``unknown key; did you mean 'port'? (known: port, address)``: one wording for all."""
    return f"unknown {what}{did_you_mean(word, known)} (known: {', '.join(known)})"


Locator = Callable[[str], int | None]


@dataclass(frozen=True, kw_only=True)
class ConnectorConfig:
    """Base of every connector's config: a frozen dataclass of :func:`setting` fields.

    Subclass it with ``@dataclass(frozen=True, kw_only=True)``. Set ``extra_options``
    to keep options the class does not declare in its ``extra`` field (a mapping)
    instead of refusing them; override :meth:`check` for rules spanning options.
    """

    extra_options: ClassVar[bool] = False

    @classmethod
    def schema(cls) -> tuple[Option, ...]:
        """The declared options, in field order."""
        return options_of(cls)

    @classmethod
    def parse(
        cls,
        options: Mapping[str, Any],
        *,
        key_name: Callable[[str], str] = str,
        file: str | None = None,
        line_of: Locator | None = None,
    ) -> Self:
        """Validate raw ``options`` into this config; every problem in one ``ConfigErrors``."""
        return parse(cls, options, key_name=key_name, file=file, line_of=line_of)

    def check(self) -> None:
        """Rules spanning several options: raise ``ConfigError(message, key=option)``."""

    def given(self) -> dict[str, Any]:
        """The options the user set (canonical names, converted values), e.g. to print."""
        names: frozenset[str] = getattr(self, "_given", frozenset())
        out = {o.name: getattr(self, o.name) for o in self.schema() if o.name in names}
        if self.extra_options:
            out.update(getattr(self, "extra", {}))
        return out


_SCHEMAS: dict[type[ConnectorConfig], tuple[Option, ...]] = {}


@dataclass(frozen=True, kw_only=True)
class NoOptions(ConnectorConfig):
    """The config of a connector that takes no options."""


def options_of(cls: type[ConnectorConfig]) -> tuple[Option, ...]:
    """The options ``cls`` declares, resolved from its fields once and kept."""
    found = _SCHEMAS.get(cls)
    if found is None:
        found = _SCHEMAS[cls] = _resolve(cls)
    return found


def _resolve(cls: type[ConnectorConfig]) -> tuple[Option, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        rule = f.metadata.get(_RULE)
        if rule is None:
            continue  # not an option (e.g. ``extra``)
        kind, optional = _base_type(hints[f.name], f"{cls.__name__}.{f.name}")
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out.append(
            Option(
                f.name,
                kind,
                rule.help,
                required=required,
                default=None if required else default,
                aliases=rule.aliases,
                choices=rule.choices,
                optional=optional,
                rule=rule,
            )
        )
    return tuple(out)


def _base_type(hint: Any, where: str) -> tuple[type, bool]:
    """``(type, None allowed)`` of a field annotation such as ``float | None``."""
    args = typing.get_args(hint)
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        rest = [a for a in args if a is not type(None)]
        optional = len(rest) < len(args)
        if len(rest) != 1:
            raise TypeError(f"{where}: one type (optionally | None) per option, got {hint}")
        hint = rest[0]
    origin = typing.get_origin(hint) or hint
    if origin is Mapping or origin is dict:
        origin = dict
    if origin not in _TYPE_NAMES:
        raise TypeError(f"{where}: unsupported option type {hint}")
    return origin, optional


def parse(
    cls: type[C],
    options: Mapping[str, Any],
    *,
    key_name: Callable[[str], str] = str,
    file: str | None = None,
    line_of: Locator | None = None,
) -> C:
    """Validate ``options`` into ``cls`` (see :meth:`ConnectorConfig.parse`)."""
    schema = options_of(cls)
    by_name: dict[str, Option] = {}
    for option in schema:
        by_name[option.name] = option
        for alias in option.aliases:
            by_name[alias] = option
    errors: list[ConfigError] = []
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    written: dict[str, str] = {}  # canonical name -> the key the user wrote

    def fail(key: str, message: str) -> None:
        line = line_of(key) if line_of else None
        errors.append(ConfigError(message, key=key_name(key), file=file, line=line))

    for key, value in options.items():
        opt = by_name.get(key)
        if opt is None:
            if cls.extra_options:
                text = str(value) if isinstance(value, Interpolated) else value
                extra[key] = Secret(text) if is_secret_key(key) and isinstance(text, str) else text
                continue
            known = sorted(by_name)
            fail(key, unknown("option", key, known))
            continue
        if opt.name in written:
            fail(key, f"given twice (as '{written[opt.name]}' and '{key}')")
            continue
        written[opt.name] = key
        try:
            values[opt.name] = opt.check(value)
        except ValueError as exc:
            fail(key, str(exc))
    for option in schema:
        if option.required and option.name not in written:
            fail(option.name, f"required option missing: {option.help}")
    if not errors:
        if cls.extra_options:
            values["extra"] = extra
        config = cls(**values)
        object.__setattr__(config, "_given", frozenset(written))
        try:
            config.check()
        except ConfigError as exc:
            for error in exc.errors if isinstance(exc, ConfigErrors) else [exc]:
                key = error.key or ""
                fail(written.get(key, key), error.message)
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    return config
