"""Secret values that cannot leak through repr, str, logs, exceptions or config dumps."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

REDACTED = "***"

_SECRET_KEY = re.compile(
    r"(api[_-]?key|apikey|secret|token|password|passphrase|private[_-]?key|jwt|auth|signature)",
    re.IGNORECASE,
)


@lru_cache(maxsize=1024)
def is_secret_key(key: str) -> bool:
    """True for option names that hold credentials (``apiKey``, ``secret``, ``token`` ...).

    Cached: the same few field names pass through here on every order event."""
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


def redact_url(url: str) -> str:
    """``url`` fit to print: the password of the user-info part and the whole query (which
    may carry keys, e.g. ``?apikey=...``) masked; scheme, user, host, port and path kept."""
    from urllib.parse import urlsplit  # not at import: listing connectors never needs it

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # a malformed authority: show nothing of it
        return f"{url.partition('://')[0]}://{REDACTED}"
    if password is None and not parts.query:
        return url  # nothing to mask: the URL exactly as given (``sqlite:///x`` included)
    if password is not None:
        user, _, host = parts.netloc.rpartition("@")
        name = user.partition(":")[0]
        parts = parts._replace(netloc=f"{name}:{REDACTED}@{host}")
    if parts.query:
        parts = parts._replace(query=REDACTED)
    return parts.geturl()


def redact_text(text: str) -> str:
    """A string fit to print: URLs and JSON documents inside it lose their credentials.

    A subscribe message written as JSON text (``'{"op": "auth", "token": "..."}'``) is
    masked like the same message written as a mapping.
    """
    if "://" not in text and text.lstrip()[:1] not in ("{", "["):
        return text  # the common case (every event field), decided without a regex
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and _SECRET_KEY.search(stripped):
        import json

        try:
            return json.dumps(redact(json.loads(stripped)))
        except (ValueError, RecursionError):
            return REDACTED
    if "://" in text:
        return redact_url(text)
    return text


def redact(value: Any) -> Any:
    """A deep copy of ``value`` fit to print: the one redaction rule for config dumps,
    reprs, logs and error messages.

    Masked: :class:`Secret` values; the value of every credential-named key, whatever its
    type (a key written as a number in YAML too); URL passwords and query strings; the
    same inside lists, mappings and JSON text, at any depth.
    """
    kind = type(value)
    if kind is str:
        return redact_text(value)
    if value is None or kind in (int, float, bool):
        return value  # plain scalars first: events pass through here on every order
    if isinstance(value, Secret):
        return REDACTED
    if kind is dict or isinstance(value, Mapping):  # a dict first: no ABC check per event
        return {
            k: (
                REDACTED
                if isinstance(k, str) and is_secret_key(k) and value_given(v)
                else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def value_given(value: Any) -> bool:
    """True unless ``value`` is absent (None or empty text): what a secret key masks."""
    return value is not None and value != ""
