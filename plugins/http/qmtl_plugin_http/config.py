"""The ``http`` brokerage's typed config (no heavy imports: read when listing)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from qmtl_core.errors import ConfigError
from qmtl_core.options import setting
from qmtl_core.rate_limits import RateLimitConfig
from qmtl_core.redaction import Secret


@dataclass(frozen=True, kw_only=True)
class HttpBrokerageConfig(RateLimitConfig):
    """Options of the HTTP broker protocol client, with the shared rate-budget options."""

    url: str = setting(
        "the broker's orders URL, e.g. https://broker/api/orders", schemes=("http", "https")
    )
    max_retries: int = setting("retries after the first attempt", default=3, minimum=0)
    backoff: float = setting(
        "first retry delay in seconds, doubled per retry", default=0.1, minimum=0
    )
    token: Secret | None = setting(
        "bearer token sent as 'Authorization: Bearer ...' (optional)", default=None
    )

    def check(self) -> None:
        super().check()
        parts = urlsplit(self.url.strip())
        if parts.query or parts.fragment:
            raise ConfigError(
                "the orders URL must not have a query string or fragment; pass credentials "
                "with the 'token' option",
                key="url",
            )

    @property
    def orders_url(self) -> str:
        """The orders URL without surrounding blanks or a trailing slash."""
        return self.url.strip().rstrip("/")
