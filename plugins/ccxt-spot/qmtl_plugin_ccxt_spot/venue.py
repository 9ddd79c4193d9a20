"""The ccxt exchange object behind a client, and the one way to call it.

``open_venue`` builds (or adopts) the exchange: credentials revealed only into ccxt,
the environment chosen explicitly (a venue without a sandbox is an error, never a
silent live connection), logging scrubbed. ``Venue.call`` runs one ccxt call at a
time with the runtime timeout and turns ccxt errors into core errors.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import ccxt

from qmtl_core import runtime
from qmtl_core.errors import BrokerageError, ConfigError
from qmtl_core.options import Schema, did_you_mean, validate_options
from qmtl_core.redaction import Secret, reveal
from qmtl_plugin_ccxt_spot.errors import translate
from qmtl_plugin_ccxt_spot.redaction import RedactingLogger, Scrubber, redacting_print

T = TypeVar("T")
Environment = Literal["live", "sandbox", "demo"]
log = logging.getLogger(__name__)

#: ccxt options for spot trading. Keys an exchange does not use are ignored by ccxt.
#: Only spot markets are loaded; margin pairs and currency metadata (extra signed calls
#: at startup) are skipped; open orders without a symbol are allowed for reconciliation.
SPOT_DEFAULTS: Mapping[str, Any] = {
    "defaultType": "spot",
    "fetchMarkets": {"types": ["spot"]},
    "fetchMargins": False,
    "fetchCurrencies": False,
    "fetchOpenOrders": {"warnWithoutSymbol": False},
}
#: ccxt options for USD-margined perpetuals ("BTC/USDT" resolves to "BTC/USDT:USDT").
FUTURES_DEFAULTS: Mapping[str, Any] = {
    "defaultType": "swap",
    "fetchMarkets": {"types": ["linear"]},
    "fetchCurrencies": False,
    "fetchOpenOrders": {"warnWithoutSymbol": False},
}
#: Binance retired its futures testnet for "demo trading", and ccxt refuses sandbox mode
#: on every private futures call; for these ids a futures ``sandbox`` means demo.
FUTURES_DEMO_INSTEAD_OF_SANDBOX = frozenset({"binance", "binanceusdm", "binancecoinm"})

# ccxt reads its own timeout; ours comes from runtime at call time, so refuse a copy.
_RESERVED = {"timeout": "set qmtl_core.runtime.HTTP_TIMEOUT_SECONDS instead"}


@dataclass(frozen=True)
class VenueSettings:
    """Validated connector options, secrets still wrapped."""

    sandbox: bool = False
    demo: bool = False
    enable_rate_limit: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)
    max_retries: int = 3
    backoff: float | None = None
    #: Passed to the ccxt constructor: credentials and any other ccxt attribute.
    ccxt_config: Mapping[str, Any] = field(default_factory=dict)


def parse_settings(schema: Schema, options: Mapping[str, Any]) -> VenueSettings:
    """Validate connector options; anything outside ``schema`` must be a ccxt attribute.

    The check on extras matters: ccxt accepts any keyword, so a typo such as
    ``sandbx=True`` would otherwise be ignored and the client would trade live.
    """
    checked = validate_options(schema, options, allow_extra=True)
    known = {o.name for o in schema}
    spellings = sorted(known.union(*(o.aliases for o in schema)))
    for key in checked:
        if key in known:
            continue
        if key in _RESERVED:
            raise ConfigError(f"not a connector option: {_RESERVED[key]}", key=key)
        if not hasattr(ccxt.Exchange, key) or callable(getattr(ccxt.Exchange, key)):
            raise ConfigError(
                "neither a connector option nor a ccxt exchange setting"
                f"{did_you_mean(key, spellings)}",
                key=key,
            )
    return VenueSettings(
        sandbox=checked.pop("sandbox", False),
        demo=checked.pop("demo", False),
        enable_rate_limit=checked.pop("enableRateLimit", True),
        options=checked.pop("options", {}),
        max_retries=checked.pop("max_retries", 3),
        backoff=checked.pop("backoff", None),
        ccxt_config=checked,
    )


class Venue:
    """A ccxt exchange plus the rules for calling it (one call at a time)."""

    def __init__(self, exchange: Any, environment: Environment, scrub: Scrubber) -> None:
        self.exchange = exchange
        self.environment = environment
        self.scrub = scrub
        # ccxt exchange objects are not thread-safe (throttle state, last response);
        # an OCO watcher thread and the strategy may share one client.
        self._lock = threading.RLock()

    @property
    def id(self) -> str:
        return str(self.exchange.id)

    def call(self, action: str, fn: Callable[[], T], *, placing: bool = False) -> T:
        """Run ``fn`` (one ccxt call) and translate its errors; ``placing`` if it may create."""
        with self._lock:
            self.exchange.timeout = int(runtime.HTTP_TIMEOUT_SECONDS * 1000)
            # Errors are read from the last answer: never let it be an earlier call's.
            self.exchange.last_http_response = None
            self.exchange.last_response_headers = None
            try:
                return fn()
            except ccxt.InvalidNonce as exc:
                error = self._translate(action, exc, placing)
                self._resync_clock()
                raise error from None
            except ccxt.BaseError as exc:
                raise self._translate(action, exc, placing) from None

    def _translate(self, action: str, exc: ccxt.BaseError, placing: bool) -> BrokerageError:
        return translate(
            exc,
            venue=self.id,
            action=action,
            placing=placing,
            scrub=self.scrub,
            body=self.exchange.last_http_response,
            retry_after=self._retry_after(),
        )

    def _retry_after(self) -> float | None:
        headers = self.exchange.last_response_headers or {}
        value = headers.get("Retry-After")
        try:
            return None if value is None else float(value)
        except ValueError:
            return None

    def _resync_clock(self) -> None:
        """After "timestamp outside recvWindow", measure the venue's clock for the retry."""
        try:
            self.exchange.load_time_difference()
        except ccxt.BaseError as exc:
            log.warning("%s: could not re-sync the clock: %s", self.id, self.scrub(str(exc)))
        else:
            offset = self.exchange.options.get("timeDifference")
            log.info("%s: clock re-synced, local clock ahead by %s ms", self.id, offset)


def open_venue(
    exchange: str | Any,
    settings: VenueSettings,
    *,
    defaults: Mapping[str, Any],
    demo_instead_of_sandbox: frozenset[str] = frozenset(),
    library: Any = ccxt,
) -> Venue:
    """Build the exchange from an id (or adopt a ready instance) and pick its environment.

    ``library`` is the ccxt namespace an id is looked up in: ``ccxt`` (synchronous REST)
    by default, ``ccxt.pro`` for the streaming feed (same settings, same routing).
    """
    if isinstance(exchange, str):
        instance = _construct(exchange, settings, defaults, library)
    elif isinstance(exchange, ccxt.Exchange) and exchange.synchronous:
        if settings.ccxt_config or settings.options:
            given = sorted({*settings.ccxt_config, *(["options"] if settings.options else [])})
            raise ConfigError(
                f"{', '.join(given)} given with a ready ccxt exchange; configure the instance "
                "itself or pass the exchange id instead",
                key=given[0],
            )
        instance = exchange
    else:
        raise ConfigError(
            f"expected a ccxt exchange id or a synchronous ccxt exchange, got {exchange!r}",
            key="exchange",
        )
    environment = _select_environment(
        instance,
        sandbox=settings.sandbox,
        demo=settings.demo,
        demo_for_sandbox=instance.id in demo_instead_of_sandbox,
    )
    scrub = Scrubber.for_exchange(instance)
    instance.logger = RedactingLogger(logging.getLogger("ccxt.base.exchange"), scrub)
    instance.log = redacting_print(scrub)
    return Venue(instance, environment, scrub)


def _construct(
    exchange_id: str, settings: VenueSettings, defaults: Mapping[str, Any], library: Any
) -> Any:
    known: list[str] = list(library.exchanges)
    if exchange_id not in known:
        raise ConfigError(
            f"unknown {library.__name__} exchange "
            f"'{exchange_id}'{did_you_mean(exchange_id, known)}",
            key="exchange",
        )
    config: dict[str, Any] = {
        key: reveal(value) if isinstance(value, Secret) else value
        for key, value in settings.ccxt_config.items()
    }
    config["enableRateLimit"] = settings.enable_rate_limit
    config["options"] = _merge(defaults, settings.options)
    return getattr(library, exchange_id)(config)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override``, nested mappings merged rather than replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _select_environment(
    exchange: Any, *, sandbox: bool, demo: bool, demo_for_sandbox: bool
) -> Environment:
    if sandbox and demo:
        raise ConfigError("choose one: sandbox (testnet) or demo trading", key="demo")
    if sandbox and demo_for_sandbox:
        log.warning(
            "%s: sandbox=True routes to demo trading: the venue retired this testnet and "
            "ccxt %s refuses it; pass demo=True to choose demo trading explicitly",
            exchange.id,
            ccxt.__version__,
        )
        demo = True
    if demo:
        try:
            exchange.enable_demo_trading(True)
        except (ccxt.BaseError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{exchange.id} has no demo trading in ccxt {ccxt.__version__} ({exc}); "
                "remove demo=True",
                key="demo",
            ) from None
        return "demo"
    if sandbox:
        if not exchange.urls.get("test"):
            raise ConfigError(
                f"{exchange.id} has no sandbox (testnet) in ccxt {ccxt.__version__}; refusing "
                "to fall back to the live venue: remove sandbox=True to trade live",
                key="sandbox",
            )
        exchange.set_sandbox_mode(True)
        return "sandbox"
    return "live"
