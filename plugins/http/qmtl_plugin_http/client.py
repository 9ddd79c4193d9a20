"""TradeExecutionService and HttpBrokerageClient: orders over the HTTP broker protocol.

The four venue calls translate HTTP into core acks and errors (see ``wire``); the core
base class does validation, idempotent retries and events. Nothing here retries.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests

from qmtl_core import runtime
from qmtl_core.brokerage import BaseBrokerageClient, Capabilities, OcoSupport
from qmtl_core.errors import ConfigError, RequestNotSent, TransientError, VenueProtocolError
from qmtl_core.execution import RetryPolicy
from qmtl_core.orders import Order, OrderAck, OrderType
from qmtl_core.redaction import REDACTED, Secret, reveal
from qmtl_plugin_http.protocol import IDEMPOTENCY_HEADER, order_path
from qmtl_plugin_http.transport import Transport
from qmtl_plugin_http.wire import not_cancelable, parse_ack, raise_for_answer, transport_error


def _display_url(url: str) -> str:
    """``url`` fit for messages: a password in the user-info part is masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{REDACTED}@", 1)
    return parts._replace(netloc=netloc).geturl()


def _orders_url(url: Any) -> str:
    """The validated orders URL, without a trailing slash."""
    text = url.strip() if isinstance(url, str) else ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = _display_url(text) if text else repr(url)
        raise ConfigError(
            f"expected an http(s) orders URL such as https://broker/api/orders, got {shown}",
            key="url",
        )
    if parts.query or parts.fragment:
        raise ConfigError(
            "the orders URL must not have a query string or fragment; pass credentials "
            "with the 'token' option",
            key="url",
        )
    return text.rstrip("/")


class TradeExecutionService(BaseBrokerageClient):
    """Posts, polls and cancels orders at ``url``, retrying only what is safe to retry.

    Safe to share between threads. Every request times out after
    ``runtime.HTTP_TIMEOUT_SECONDS``, read when the request is made.
    """

    capabilities = Capabilities(OcoSupport.MANUAL, frozenset(OrderType))

    def __init__(
        self,
        url: str,
        max_retries: int = 3,
        backoff: float = 0.1,
        *,
        token: str | Secret | None = None,
    ) -> None:
        super().__init__()
        self.url = _orders_url(url)
        self.retry_policy = RetryPolicy(max_retries=max_retries, backoff=backoff)
        plain = reveal(token)
        self._token = None if plain is None else Secret(plain)
        self._display = _display_url(self.url)
        self._transport = Transport(self.url)

    def __repr__(self) -> str:
        policy = self.retry_policy
        token = f", token={REDACTED}" if self._token is not None else ""
        return (
            f"{type(self).__name__}(url={self._display!r}, max_retries={policy.max_retries}, "
            f"backoff={policy.backoff}{token})"
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._transport.close()

    def __enter__(self) -> TradeExecutionService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _exchange(
        self,
        method: str,
        ref: str | None = None,
        *,
        payload: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[requests.Response, str]:
        """One request, no retries; returns the answer and a description for messages.

        Anything wrong with the request itself (a header the transport refuses, a
        payload that is not JSON) is found while building it, before a connection is
        touched: ``RequestNotSent``, never retried, nothing can have reached the broker.
        """
        transport = self._transport
        action = f"{method} {self._display if ref is None else order_path(self._display, ref)}"
        headers: dict[str, str] = {}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.reveal()}"
        try:
            request = transport.build(method, transport.target(ref), payload, headers)
        except (requests.RequestException, ValueError, TypeError) as exc:
            # Raised while building the request here: not one byte has left the process.
            raise RequestNotSent(f"{action}: cannot build the request: {exc}") from exc
        try:
            resp = transport.send(method, request, runtime.HTTP_TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            raise transport_error(action, exc) from exc
        return resp, action

    def _send(self, order: Order) -> OrderAck:
        coid = order.client_order_id
        resp, action = self._exchange("POST", payload=order.to_payload(), idempotency_key=coid)
        raise_for_answer(resp, action)
        try:
            return parse_ack(resp, action, client_order_id=coid)
        except VenueProtocolError as exc:
            # A 2xx means the broker took the order: read it back instead of guessing.
            raise TransientError(
                f"{exc}; HTTP {resp.status_code} means the broker has order {coid}, looking it up",
                ambiguous=True,
            ) from exc

    def _lookup(self, order: Order) -> OrderAck | None:
        coid = order.client_order_id
        resp, action = self._exchange("GET", coid)
        if resp.status_code == 404:
            return None
        raise_for_answer(resp, action)
        return parse_ack(resp, action, client_order_id=coid)

    def _fetch(self, ref: str) -> OrderAck:
        resp, action = self._exchange("GET", ref)
        raise_for_answer(resp, action)
        return parse_ack(resp, action, client_order_id=None, ref=ref)

    def _cancel(self, ref: str) -> OrderAck:
        resp, action = self._exchange("DELETE", ref)
        if resp.status_code == 409:
            raise not_cancelable(resp, ref, action)
        raise_for_answer(resp, action)
        return parse_ack(resp, action, client_order_id=None, ref=ref)


class HttpBrokerageClient(TradeExecutionService):
    """The seed's brokerage-client name for the HTTP service: same requests, same retries.

    OCO is manual: use ``qmtl_core.OCOOrder``, which polls both legs and cancels the
    sibling of the one that fills.
    """
