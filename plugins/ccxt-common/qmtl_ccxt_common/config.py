"""The typed config every ccxt connector shares (spot, futures, and any ccxt-based plugin).

Kept free of ccxt imports at module level: the registry reads these classes when listing
connectors, and listing must stay cheap. ``check`` imports ccxt only to validate what
only ccxt knows (exchange ids, exchange settings), so ``qmtl-connectors check`` refuses
what building would refuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from qmtl_core.errors import ConfigError, ConfigErrors
from qmtl_core.options import ConnectorConfig, did_you_mean, setting
from qmtl_core.rate_limits import RateLimitConfig
from qmtl_core.redaction import Secret

# ccxt reads its own timeout; ours comes from runtime at call time, so refuse a copy.
RESERVED = {"timeout": "set qmtl_core.runtime.HTTP_TIMEOUT_SECONDS instead"}


@dataclass(frozen=True, kw_only=True)
class CcxtVenueConfig(ConnectorConfig):
    """How to reach a ccxt exchange: ``exchange``, credentials, environment, ccxt options;
    other keys must be ccxt exchange settings (``password``, ``uid`` ...) and go to the
    ccxt constructor (``extra``). Every ccxt connector (orders or market data) has these."""

    extra_options: ClassVar[bool] = True

    exchange: str = setting("ccxt exchange id, e.g. 'binance' or 'binanceusdm'")
    apiKey: Secret | None = setting(
        "API key; shown as *** everywhere but the venue", default=None, aliases=("api_key",)
    )
    secret: Secret | None = setting(
        "API secret; shown as *** everywhere but the venue", default=None
    )
    sandbox: bool = setting(
        "trade on the venue's testnet (ccxt set_sandbox_mode); Binance futures: demo trading",
        default=False,
        aliases=("testnet",),
    )
    demo: bool = setting("trade on the venue's demo-trading environment", default=False)
    options: dict[str, Any] = setting(
        "ccxt exchange options, e.g. {'defaultType': 'spot'}", default={}
    )
    enableRateLimit: bool = setting("let ccxt pace requests to the venue's limits", default=True)
    #: Other ccxt exchange settings, secrets wrapped.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        super().check()
        errors: list[ConfigError] = []
        if self.sandbox and self.demo:
            errors.append(ConfigError("choose one: sandbox (testnet) or demo trading", key="demo"))
        errors += _ccxt_errors(self)
        if errors:
            raise errors[0] if len(errors) == 1 else ConfigErrors(errors)

    def ccxt_settings(self) -> dict[str, Any]:
        """Credentials and other ccxt settings for the ccxt constructor, secrets wrapped."""
        out: dict[str, Any] = dict(self.extra)
        if self.apiKey is not None:
            out["apiKey"] = self.apiKey
        if self.secret is not None:
            out["secret"] = self.secret
        return out


@dataclass(frozen=True, kw_only=True)
class CcxtConfig(CcxtVenueConfig, RateLimitConfig):
    """A ccxt brokerage's config: the venue, the shared rate budget and order retries."""

    max_retries: int = setting(
        "retries of transient failures (timeouts, 5xx, 429)", default=3, minimum=0
    )
    backoff: float | None = setting(
        "first retry delay in seconds; doubles on each retry", default=None, minimum=0
    )
    stream_orders: bool = setting(
        "follow the venue's order stream (ccxt.pro watch_orders): polls answered from it, "
        "OCO siblings canceled as soon as a fill is pushed",
        default=False,
    )

    def check(self) -> None:
        super().check()
        if self.stream_orders and (self.apiKey is None or self.secret is None):
            raise ConfigError(
                "the order stream is private: give apiKey and secret, or remove stream_orders",
                key="stream_orders",
            )


def _ccxt_errors(config: CcxtVenueConfig) -> list[ConfigError]:
    """What only ccxt knows: the exchange id exists, extra keys are exchange settings.

    The check on extras matters: ccxt accepts any keyword, so a typo such as
    ``sandbx=True`` would otherwise be ignored and the client would trade live.
    """
    import ccxt  # only here: listing connectors must not import ccxt

    errors = []
    if config.exchange not in ccxt.exchanges:
        errors.append(
            ConfigError(
                f"unknown ccxt exchange '{config.exchange}'"
                f"{did_you_mean(config.exchange, ccxt.exchanges)}",
                key="exchange",
            )
        )
    spellings = sorted(
        {o.name for o in config.schema()}.union(*(o.aliases for o in config.schema()))
    )
    for key in config.extra:
        if key in RESERVED:
            errors.append(ConfigError(f"not a connector option: {RESERVED[key]}", key=key))
        elif not hasattr(ccxt.Exchange, key) or callable(getattr(ccxt.Exchange, key)):
            errors.append(
                ConfigError(
                    "neither a connector option nor a ccxt exchange setting"
                    f"{did_you_mean(key, spellings)}",
                    key=key,
                )
            )
    return errors
