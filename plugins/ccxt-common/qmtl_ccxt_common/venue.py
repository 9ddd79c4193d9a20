"""The ccxt exchange object behind a client, and the one way to call it.

``open_venue`` builds (or adopts) the exchange: credentials revealed only into ccxt,
the environment chosen explicitly (a venue without a sandbox is an error, never a
silent live connection), logging scrubbed. ``Venue.call`` runs one ccxt call at a
time with the runtime timeout and turns ccxt errors into core errors; ``AsyncVenue``
does the same for the ``ccxt.async_support`` twin of the same config.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from types import ModuleType
from typing import Any, Literal, TypeVar

import ccxt
import ccxt.async_support

from qmtl_ccxt_common.config import CcxtVenueConfig
from qmtl_ccxt_common.errors import translate
from qmtl_ccxt_common.products import Product
from qmtl_ccxt_common.redaction import RedactingLogger, Scrubber, redacting_print
from qmtl_ccxt_common.session import install as install_session
from qmtl_core import runtime
from qmtl_core.errors import (
    BrokerageError,
    ConfigError,
    RateLimited,
    TransientError,
    VenueProtocolError,
)
from qmtl_core.options import did_you_mean
from qmtl_core.redaction import Secret, reveal

T = TypeVar("T")
Environment = Literal["live", "sandbox", "demo"]
log = logging.getLogger(__name__)


#: What ccxt's parsers raise on an answer that is not what the venue documents.
PARSER_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError)


class Venue:
    """A ccxt exchange plus the rules for calling it (one call at a time)."""

    def __init__(self, exchange: Any, environment: Environment, scrub: Scrubber) -> None:
        self.exchange = exchange
        self.environment = environment
        self.scrub = scrub
        #: Told the venue's ``Retry-After`` when it says "too many requests".
        self.on_rate_limited: Callable[[float | None], None] | None = None
        # ccxt exchange objects are not thread-safe (throttle state, last response);
        # an OCO watcher thread and the strategy may share one client.
        self._lock = threading.RLock()

    @property
    def id(self) -> str:
        return str(self.exchange.id)

    def call(self, action: str, fn: Callable[[], T], *, placing: bool = False) -> T:
        """Run ``fn`` (one ccxt call) and translate its errors; ``placing`` if it may create."""
        with self._lock:
            self._prepare()
            try:
                return fn()
            except ccxt.InvalidNonce as exc:
                error = self._translate(action, exc, placing)
                self._told(error)
                self._resync_clock()
                raise error from None
            except ccxt.BaseError as exc:
                error = self._translate(action, exc, placing)
                self._told(error)
                raise error from None
            except PARSER_ERRORS as exc:
                raise self._unreadable(action, exc, placing) from None

    def _unreadable(self, action: str, exc: Exception, placing: bool) -> BrokerageError:
        """ccxt's parser met an answer that is not what the venue documents; after a
        placing call the order may be live, so it is ambiguous (looked up, never guessed)."""
        message = self.scrub(f"{self.id} {action}: unreadable answer ({exc!r})")
        if placing:
            return TransientError(message, ambiguous=True)
        return VenueProtocolError(message)

    def _prepare(self) -> None:
        self.exchange.timeout = int(runtime.HTTP_TIMEOUT_SECONDS * 1000)
        # Errors are read from the last answer: never let it be an earlier call's.
        self.exchange.last_http_response = None
        self.exchange.last_response_headers = None

    def _told(self, error: BrokerageError) -> None:
        """A "too many requests" answer blocks the account's budget."""
        if isinstance(error, RateLimited) and self.on_rate_limited is not None:
            self.on_rate_limited(error.retry_after)

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


class AsyncVenue(Venue):
    """A ``ccxt.async_support`` exchange with the same rules: one call at a time (ccxt
    reads an error's body from the exchange's last answer), the same timeout and error
    translation; a "too many requests" answer is awaited into ``on_rate_limited_async``."""

    def __init__(self, exchange: Any, environment: Environment, scrub: Scrubber) -> None:
        super().__init__(exchange, environment, scrub)
        self._alock = asyncio.Lock()
        #: Awaited with the venue's ``Retry-After`` when it says "too many requests".
        self.on_rate_limited_async: Callable[[float | None], Awaitable[None]] | None = None

    async def acall(self, action: str, fn: Callable[[], Any], *, placing: bool = False) -> Any:
        """Run ``fn`` (one ccxt call, awaited if it returns an awaitable) and translate
        its errors; ``placing`` if it may create."""
        async with self._alock:
            self._prepare()
            try:
                result = fn()
                return await result if inspect.isawaitable(result) else result
            except ccxt.BaseError as exc:
                error = self._translate(action, exc, placing)
                if isinstance(error, RateLimited) and self.on_rate_limited_async is not None:
                    await self.on_rate_limited_async(error.retry_after)
                if isinstance(exc, ccxt.InvalidNonce):
                    await self._aresync_clock()
                raise error from None
            except PARSER_ERRORS as exc:
                raise self._unreadable(action, exc, placing) from None

    async def _aresync_clock(self) -> None:
        try:
            await self.exchange.load_time_difference()
        except ccxt.BaseError as exc:
            log.warning("%s: could not re-sync the clock: %s", self.id, self.scrub(str(exc)))


def open_venue(
    config: CcxtVenueConfig, product: Product, instance: Any = None, *, library: ModuleType = ccxt
) -> Venue:
    """Build the exchange ``config`` names (or adopt a ready ``instance``) for ``product``,
    and pick its environment.

    ``library`` is the ccxt namespace the exchange comes from: ``ccxt`` (synchronous
    REST, the brokerages), ``ccxt.async_support`` (the async twin, in an
    :class:`AsyncVenue`) or ``ccxt.pro`` (WebSocket streams); credentials, environment
    routing and scrubbing are the same for all.
    """
    synchronous = library is ccxt
    if instance is None:
        instance = _construct(config, product.defaults, library)
        if synchronous:
            install_session(instance)
    elif isinstance(instance, ccxt.Exchange) and instance.synchronous == synchronous:
        settings = config.ccxt_settings()
        if settings or config.options:
            given = sorted({*settings, *(["options"] if config.options else [])})
            raise ConfigError(
                f"{', '.join(given)} given with a ready ccxt exchange; configure the instance "
                "itself or pass the exchange id instead",
                key=given[0],
            )
    else:
        kind = "synchronous ccxt" if synchronous else f"asynchronous {library.__name__}"
        raise ConfigError(
            f"expected a ccxt exchange id or a {kind} exchange, got {instance!r}",
            key="exchange",
        )
    environment = _select_environment(
        instance,
        sandbox=config.sandbox,
        demo=config.demo,
        demo_for_sandbox=instance.id in product.demo_instead_of_sandbox,
    )
    scrub = Scrubber.for_exchange(instance)
    instance.logger = RedactingLogger(logging.getLogger("ccxt.base.exchange"), scrub)
    instance.log = redacting_print(scrub)
    return (Venue if synchronous else AsyncVenue)(instance, environment, scrub)


def _construct(config: CcxtVenueConfig, defaults: Mapping[str, Any], library: ModuleType) -> Any:
    """The exchange from ``library`` (``config`` was checked: ccxt knows the id); secrets
    revealed only here. ``library`` may offer fewer exchanges (ccxt.pro streams)."""
    known: list[str] = list(library.exchanges)
    if config.exchange not in known:
        raise ConfigError(
            f"{library.__name__} {ccxt.__version__} has no exchange '{config.exchange}'"
            f"{did_you_mean(config.exchange, known)}",
            key="exchange",
        )
    settings: dict[str, Any] = {
        key: reveal(value) if isinstance(value, Secret) else value
        for key, value in config.ccxt_settings().items()
    }
    settings["enableRateLimit"] = config.enableRateLimit
    settings["options"] = _merge(defaults, config.options)
    return getattr(library, config.exchange)(settings)


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
