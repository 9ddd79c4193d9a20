"""ccxt exceptions -> the core's error hierarchy, so callers branch on one set of types.

The distinction that protects money: a network failure while *placing* an order is
ambiguous (the order may exist, so the core looks it up before re-sending); an answer
from the venue is not. Nothing is swallowed: every ccxt error becomes a typed error
that carries the venue's message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import ccxt

from qmtl_core.errors import (
    AuthenticationError,
    BrokerageError,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    TransientError,
    VenueProtocolError,
)

#: Venue answers meaning "an order with this client id already exists" (Binance spot
#: -2010 "Duplicate order sent.", USD-M -4116 "ClientOrderId is duplicated.").
DUPLICATE_CLIENT_ID_CODES = frozenset({"-4116"})
DUPLICATE_CLIENT_ID_MESSAGES = ("duplicate order sent", "clientorderid is duplicated")
#: Binance's "too much request weight" (-1003) and "too many new orders" (-1015): the
#: order was not placed, whatever ccxt class a product maps them to.
RATE_LIMIT_CODES = frozenset({"-1003", "-1015"})
#: Binance's "API-key format invalid" (-2014) and "Invalid API-key, IP, or permissions"
#: (-2015): refused credentials, whatever ccxt maps them to (after one successful call
#: ccxt reports -2015 as a temporary IP ban; retrying a revoked key helps nobody).
AUTH_CODES = frozenset({"-2014", "-2015"})


def venue_payload(error: BaseException, body: str | None = None) -> dict[str, Any]:
    """The venue's JSON error answer (``{"code": .., "msg": ..}``), else {}.

    ``body`` is the raw HTTP answer when there was one; ccxt's message embeds it only
    for some errors (messages it matches by text lose the code).
    """
    for text in (body, str(error)):
        start = -1 if text is None else text.find("{")
        if text is None or start < 0:
            continue
        try:
            parsed = json.loads(text[start:])
        except ValueError:
            continue
        if isinstance(parsed, dict):
            return parsed
    return {}


def venue_code(payload: Mapping[str, Any]) -> str | None:
    code = payload.get("code")
    return None if code is None else str(code)


def is_duplicate_client_order_id(payload: Mapping[str, Any]) -> bool:
    """True when the venue refused an order because its client id is already in use."""
    if payload.get("error") == "DuplicateOrderId" or venue_code(payload) in (
        DUPLICATE_CLIENT_ID_CODES
    ):
        return True
    message = str(payload.get("msg", "")).lower()
    return any(marker in message for marker in DUPLICATE_CLIENT_ID_MESSAGES)


def root_cause(error: BaseException) -> str:
    """``"; cause: <innermost exception>"`` (a DNS failure, a refused connection): ccxt's
    NetworkError text names only the request, the reason is in its ``__cause__`` chain."""
    cause, seen = error.__cause__ or error.__context__, 0
    innermost: BaseException | None = None
    while cause is not None and seen < 20:  # a bounded walk: chains can loop
        innermost, seen = cause, seen + 1
        cause = cause.__cause__ or cause.__context__
    if innermost is None:
        return ""
    return f"; cause: {type(innermost).__name__}: {innermost}"


def translate(
    error: ccxt.BaseError,
    *,
    venue: str,
    action: str,
    placing: bool,
    scrub: Callable[[str], str],
    body: str | None = None,
    retry_after: float | None = None,
) -> BrokerageError:
    """The core error for a ccxt error raised by ``action`` (e.g. ``create_order``).

    ``placing`` marks calls that may have created an order; ``body`` is the venue's
    raw answer, if any. ``raw`` of a rejection is the venue's payload plus ``error``
    (the ccxt class name) for callers to branch on.
    """
    kind = type(error).__name__
    payload = {**venue_payload(error, body), "error": kind}
    code = venue_code(payload)
    detail = str(payload.get("msg") or error)
    message = scrub(f"{venue} {action} failed: {detail} ({kind}{f', code {code}' if code else ''})")
    if code in AUTH_CODES:
        return AuthenticationError(message)
    if isinstance(error, ccxt.RateLimitExceeded | ccxt.DDoSProtection) or code in RATE_LIMIT_CODES:
        return RateLimited(message, retry_after=retry_after)
    if isinstance(error, ccxt.InvalidNonce):
        # The venue refused the request's timestamp: nothing was placed.
        return TransientError(message, ambiguous=False)
    if isinstance(error, ccxt.NetworkError | ccxt.OperationFailed):
        return TransientError(message + scrub(root_cause(error)), ambiguous=placing)
    if isinstance(error, ccxt.AuthenticationError):
        return AuthenticationError(message)
    if placing and isinstance(error, ccxt.BadResponse):
        # The venue answered an order placement with something that is not an answer:
        # the order may well be live, so it must be looked up, never called a rejection.
        return TransientError(message, ambiguous=True)
    if isinstance(error, ccxt.OrderNotFound):
        return OrderNotFound(message, raw=payload)
    if isinstance(error, ccxt.ExchangeError):
        return OrderRejected(message, raw=payload)
    return VenueProtocolError(message)
