"""Secret values that cannot leak through repr, str, logs, exceptions or config dumps."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"

_SECRET_KEY = re.compile(
    r"(api[_-]?key|apikey|secret|token|password|passphrase|private[_-]?key|jwt|auth)",
    re.IGNORECASE,
)


def is_secret_key(key: str) -> bool:
    """True for option names that hold credentials (``apiKey``, ``secret``, ``token`` ...)."""
    return bool(_SECRET_KEY.search(key))


class Secret:
    """Holds a credential; only :meth:`reveal` returns the real value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"a secret must be text, got {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        """The plain text: call it only where the secret must go to a venue."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{REDACTED}')"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("secrets are not picklable")


def reveal(value: str | Secret | None) -> str | None:
    """The plain text of a secret, for the one place that must send it to a venue."""
    if isinstance(value, Secret):
        return value.reveal()
    return value


def redact(value: Any) -> Any:
    """A deep copy of ``value`` fit to print: secrets and credential keys are masked."""
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and is_secret_key(k) and v else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
