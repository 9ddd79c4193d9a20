"""Rate limits as the venue states them: ``pool: limit/interval`` and the account they bind.

Every brokerage connector accepts the same options (its config inherits
:class:`RateLimitConfig`):
``rate_limits`` (``{"orders": "40/1s", "requests": "1200/1m"}``), ``account`` (who
shares the budget; by default the venue plus a fingerprint of the API key) and
``rate_limit_max_wait`` (how long a caller may block before ``RateLimited``), and
``state``, the store the budget is shared through (``connectors: state:``). The
budget itself lives in :mod:`qmtl_core.rate_budget`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qmtl_core.errors import ConfigError
from qmtl_core.options import ConnectorConfig, setting
from qmtl_core.redaction import Secret, reveal

#: Seconds per interval unit; Binance's windows are whole seconds, minutes, hours, days.
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: How long a caller waits for budget before ``RateLimited`` unless configured.
DEFAULT_MAX_WAIT_SECONDS = 10.0
_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_POOL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_FORM = "write LIMIT/INTERVAL with an interval in s, m, h or d, e.g. 40/1s or 1200/1m"


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` units per clock-aligned window of ``interval`` seconds."""

    limit: int
    interval: int

    def __str__(self) -> str:
        for unit, seconds in reversed(UNITS.items()):
            if self.interval % seconds == 0:
                return f"{self.limit}/{self.interval // seconds}{unit}"
        raise AssertionError("every interval is whole seconds")


def parse_limit(text: Any) -> Limit:
    """``"40/1s"`` -> ``Limit(40, 1)``; raises ``ValueError`` saying the accepted form."""
    match = _LIMIT.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{_FORM}; got {text!r}")
    count, amount, unit = int(match[1]), int(match[2] or 1), match[3]
    if count < 1 or amount < 1:
        raise ValueError(f"limit and interval must be at least 1; {_FORM}; got {text!r}")
    return Limit(count, amount * UNITS[unit])


def parse_rate_limits(value: Any) -> dict[str, Limit]:
    """A ``rate_limits`` mapping as ``{pool: Limit}``; ``ValueError`` names the bad pool."""
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping of pool: LIMIT/INTERVAL, got {value!r}")
    limits: dict[str, Limit] = {}
    for pool, text in value.items():
        if not isinstance(pool, str) or not _POOL.match(pool):
            raise ValueError(f"pool name {pool!r}: use letters, digits, '_', '.' or '-'")
        try:
            limits[pool] = parse_limit(text)
        except ValueError as exc:
            raise ValueError(f"pool '{pool}': {exc}") from None
    return limits


def _normalised(value: Any) -> dict[str, str]:
    """The option's check: the mapping as canonical ``{pool: "40/1s"}`` text."""
    return {pool: str(limit) for pool, limit in parse_rate_limits(value).items()}


@dataclass(frozen=True, kw_only=True)
class RateLimitConfig(ConnectorConfig):
    """The rate-budget options every brokerage connector shares, declared once: a
    connector's config class inherits them."""

    rate_limits: dict[str, str] = setting(
        "pool: LIMIT/INTERVAL (s, m, h, d), e.g. {orders: 40/1s, requests: 1200/1m}; "
        "shared by every process trading the same account",
        default={},
        convert=_normalised,
    )
    account: str | None = setting(
        "name of the rate budget this client shares (default: venue + key fingerprint)",
        default=None,
    )
    rate_limit_max_wait: float = setting(
        "seconds a caller may wait for budget before RateLimited",
        default=DEFAULT_MAX_WAIT_SECONDS,
        minimum=0,
    )
    state: str | None = setting(
        "where the budget is shared: a state URL; qmtl.yml fills it from 'connectors: state:' "
        "(default: this process only)",
        default=None,
    )

    def check(self) -> None:
        if self.account is not None and not self.account.strip():
            raise ConfigError(f"expected a non-empty name, got {self.account!r}", key="account")

    @property
    def limits(self) -> dict[str, Limit]:
        """``rate_limits`` as ``{pool: Limit}``."""
        return parse_rate_limits(self.rate_limits)


def key_fingerprint(key: str | Secret | None) -> str:
    """12 hex digits of SHA-256 of an API key: names an account without showing the key."""
    import hashlib  # not at import: loading OpenSSL would slow every CLI start

    plain = reveal(key) or ""
    return hashlib.sha256(plain.encode()).hexdigest()[:12]


def default_account(venue: str, key: str | Secret | None) -> str:
    """``venue:fingerprint``: every client of one venue with one key shares a budget."""
    return f"{venue}:{key_fingerprint(key)}"
