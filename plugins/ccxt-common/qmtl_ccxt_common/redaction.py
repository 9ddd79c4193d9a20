"""Keep credentials out of ccxt's own logging and out of the errors we raise.

ccxt must hold the plain key to sign requests, and at DEBUG level it logs every
request's headers (``X-MBX-APIKEY`` included); with ``verbose`` it prints them.
Both go through a :class:`Scrubber` that knows the credential values.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from qmtl_core.redaction import REDACTED

#: ccxt attributes that hold credentials (``uid``, ``login`` and ``walletAddress`` are ids).
CREDENTIAL_ATTRIBUTES = ("apiKey", "secret", "password", "privateKey", "token", "twofa")
# Shorter values would mask innocent text ("true", ids) without protecting anything.
_MIN_SECRET_LENGTH = 4


class Scrubber:
    """Replaces every known credential value in a text with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        unique = {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}
        # Longest first, so a key that contains another is masked whole.
        self._secrets = tuple(sorted(unique, key=len, reverse=True))

    @classmethod
    def for_exchange(cls, exchange: Any) -> Scrubber:
        values = (getattr(exchange, name, None) for name in CREDENTIAL_ATTRIBUTES)
        return cls(v for v in values if isinstance(v, str))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


class RedactingLogger:
    """Stands in for ``exchange.logger``: formats ccxt's message, then scrubs it."""

    def __init__(self, logger: logging.Logger, scrub: Scrubber) -> None:
        self._logger = logger
        self._scrub = scrub

    def debug(self, message: str, *args: Any) -> None:
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug("%s", self._scrub(message % args if args else message))


def redacting_print(scrub: Scrubber) -> Any:
    """A replacement for ``exchange.log`` (ccxt's ``verbose`` output) that scrubs."""

    def log(*args: Any) -> None:
        print(scrub(" ".join(str(a) for a in args)))

    return log
