"""Connector option schemas: what a connector accepts, checked before it is built.

A plugin declares its options once; the same declaration validates ``qmtl.yml``,
validates ``registry.create(...)`` keyword arguments, and generates the config docs.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from qmtl_core.errors import ConfigError, ConfigErrors
from qmtl_core.redaction import Secret, is_secret_key

_TYPE_NAMES = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "true/false",
    dict: "mapping",
    list: "list",
}


@dataclass(frozen=True)
class Option:
    """One option of a connector. ``type`` is one of str, int, float, bool, dict, list."""

    name: str
    type: type
    help: str
    required: bool = False
    default: Any = None
    aliases: tuple[str, ...] = ()
    choices: tuple[Any, ...] | None = None
    #: Checks and normalises the value after the type check; raises ``ValueError``.
    convert: Callable[[Any], Any] | None = None

    @property
    def secret(self) -> bool:
        return is_secret_key(self.name)

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES.get(self.type, self.type.__name__)

    def check(self, value: Any) -> Any:
        """Return ``value`` converted to this option's type, or raise ``ValueError``."""
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif self.type is dict and isinstance(value, Mapping):
            value = dict(value)
        elif self.type is str and isinstance(value, Secret):
            pass
        elif not isinstance(value, self.type) or (self.type is int and isinstance(value, bool)):
            raise ValueError(f"expected {self.type_name}, got {type(value).__name__} {value!r}")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise ValueError(f"expected one of {allowed}, got {value!r}")
        if self.convert is not None:
            value = self.convert(value)
        if self.secret and isinstance(value, str):
            value = Secret(value)
        return value


def whole_number(name: str, value: Any, minimum: int) -> int:
    """``value`` if it is an int (not a bool) >= ``minimum``, else a ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"must be a whole number >= {minimum}, got {value!r}", key=name)
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
        raise ConfigError(f"must be a {unit} {bound}, got {value!r}", key=name)
    return float(value)


Schema = tuple[Option, ...]
Locator = Callable[[str], int | None]


def did_you_mean(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def validate_options(
    schema: Schema,
    options: Mapping[str, Any],
    *,
    allow_extra: bool = False,
    key_name: Callable[[str], str] = str,
    file: str | None = None,
    line_of: Locator | None = None,
) -> dict[str, Any]:
    """Check ``options`` against ``schema``; collect every problem into one ``ConfigErrors``.

    Aliases map to the canonical name, secrets come back wrapped in :class:`Secret`,
    and absent optional options are left out so the factory's own default applies.
    """
    by_name: dict[str, Option] = {}
    for option in schema:
        by_name[option.name] = option
        for alias in option.aliases:
            by_name[alias] = option
    errors: list[ConfigError] = []
    out: dict[str, Any] = {}
    given: set[str] = set()  # canonical names the caller supplied, valid or not

    def fail(key: str, message: str) -> None:
        line = line_of(key) if line_of else None
        errors.append(ConfigError(message, key=key_name(key), file=file, line=line))

    for key, value in options.items():
        opt = by_name.get(key)
        if opt is None:
            if allow_extra:
                out[key] = Secret(value) if is_secret_key(key) and isinstance(value, str) else value
                continue
            known = sorted(by_name)
            fail(key, f"unknown option{did_you_mean(key, known)} (known: {', '.join(known)})")
            continue
        if opt.name in given:
            fail(key, f"given twice (as '{opt.name}' and an alias)")
            continue
        given.add(opt.name)
        try:
            out[opt.name] = opt.check(value)
        except ValueError as exc:
            fail(key, str(exc))
    for option in schema:
        if option.required and option.name not in given:
            fail(option.name, f"required option missing: {option.help}")
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    return out
