"""Translate HTTP answers and transport failures into core acks and core errors.

This is where "may the broker have my order?" is decided for every failure: only a
failure that provably happened before the request left the process is unambiguous.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from qmtl_core import runtime
from qmtl_core.errors import (
    AuthenticationError,
    OrderNotCancelable,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    TransientError,
    VenueProtocolError,
)
from qmtl_core.orders import OrderAck, OrderStatus, parse_status, venue_decimal
from qmtl_plugin_http.protocol import STATUS_ALIASES
from qmtl_plugin_http.transport import Answer

_MESSAGE_KEYS = ("error", "message", "detail")
_SNIPPET = 200


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection was never established, so the broker cannot have the order."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, NewConnectionError)


def _reason(exc: BaseException) -> str:
    """The innermost OS-level reason (``Connection refused``) behind a requests error."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        linked = (getattr(current, "reason", None), current.__cause__, current.__context__)
        todo.extend(e for e in (*linked, *current.args) if isinstance(e, BaseException))
    return type(exc).__name__


def transport_error(action: str, exc: requests.RequestException) -> TransientError:
    """A failed exchange: unambiguous only if nothing can have reached the broker."""
    if _never_sent(exc):
        return TransientError(
            f"{action}: could not connect ({_reason(exc)}); nothing was sent", ambiguous=False
        )
    if isinstance(exc, requests.ReadTimeout):
        what = f"no answer within {runtime.HTTP_TIMEOUT_SECONDS}s (runtime.HTTP_TIMEOUT_SECONDS)"
    else:
        what = f"connection lost after sending ({_reason(exc)})"
    return TransientError(f"{action}: {what}; the broker may have acted on it", ambiguous=True)


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if absent or invalid."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds() if when.tzinfo else math.nan
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _json(resp: Answer) -> Any:
    try:
        return json.loads(resp.content)
    except ValueError:
        return None


def broker_message(resp: Answer) -> str:
    """The broker's own explanation: a JSON ``error``/``message``/``detail`` or the text."""
    body = _json(resp)
    if isinstance(body, Mapping):
        for key in _MESSAGE_KEYS:
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    text = resp.content[:_SNIPPET].decode("utf-8", "replace").strip()
    return text or resp.reason or "no message"


def raise_for_answer(resp: Answer, action: str) -> None:
    """Raise the core error for a non-2xx answer; 4xx are final, 5xx and 429 retryable."""
    code = resp.status_code
    if 200 <= code < 300:
        return
    text = f"{action}: HTTP {code}: {broker_message(resp)}"
    retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
    if code in (418, 429):  # 418: the IP is banned for sending on after 429s
        raise RateLimited(text, retry_after=retry_after)
    if code >= 500:
        # The broker may have acted before failing: look the order up before re-sending.
        raise TransientError(text, ambiguous=True, retry_after=retry_after)
    if code == 408:
        raise TransientError(text, ambiguous=False, retry_after=retry_after)
    if code in (401, 403):
        raise AuthenticationError(text)
    if code == 404:
        raise OrderNotFound(text, status_code=code, raw=_json(resp))
    if code >= 400:
        raise OrderRejected(text, status_code=code, raw=_json(resp))
    location = resp.headers.get("Location", "?")
    raise VenueProtocolError(
        f"{action}: HTTP {code} to {location}; redirects are not followed for orders, "
        "configure the broker's final URL"
    )


def not_cancelable(resp: Answer, ref: str, action: str) -> OrderNotCancelable:
    """A 409 answer to DELETE: the order is already complete."""
    body = _json(resp)
    status = body.get("status") if isinstance(body, Mapping) else None
    order_id = body.get("id") if isinstance(body, Mapping) else None
    return OrderNotCancelable(
        str(order_id or ref),
        status if isinstance(status, str) else f"complete ({action}: {broker_message(resp)})",
        raw=body,
    )


def parse_ack(
    resp: Answer, action: str, *, client_order_id: str | None, ref: str | None = None
) -> OrderAck:
    """A 2xx order answer as an ack; ``client_order_id`` (if given) must match the answer's.

    A broker that does not echo ``client_order_id`` gets the one we sent, or ``ref``.
    """
    body = _json(resp)
    if not isinstance(body, dict):
        snippet = resp.content[:_SNIPPET].decode("utf-8", "replace")
        raise VenueProtocolError(f"{action}: answer is not a JSON object: {snippet!r}")
    order_id = body.get("id")
    if isinstance(order_id, bool) or not isinstance(order_id, str | int) or order_id == "":
        raise VenueProtocolError(f"{action}: answer has no order 'id' (got {order_id!r})")
    try:
        status = parse_status(body.get("status"), STATUS_ALIASES)
    except VenueProtocolError as exc:
        known = ", ".join([s.value for s in OrderStatus] + list(STATUS_ALIASES))
        raise VenueProtocolError(f"{action}: {exc} (known: {known})") from None
    echoed = body.get("client_order_id")
    if echoed is not None and (
        not isinstance(echoed, str) or (client_order_id and echoed != client_order_id)
    ):
        raise VenueProtocolError(
            f"{action}: answer is for client_order_id {echoed!r}, expected {client_order_id!r}"
        )
    try:
        filled = venue_decimal("filled_quantity", body.get("filled_quantity")) or Decimal(0)
        average = venue_decimal("average_price", body.get("average_price"))
    except VenueProtocolError as exc:
        raise VenueProtocolError(f"{action}: {exc}") from None
    symbol = body.get("symbol")
    return OrderAck(
        id=str(order_id),
        client_order_id=echoed or client_order_id or ref or str(order_id),
        status=status,
        symbol=symbol if isinstance(symbol, str) else None,
        filled_quantity=filled,
        average_price=average,
        raw=body,
    )
