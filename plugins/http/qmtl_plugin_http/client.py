"""TradeExecutionService and HttpBrokerageClient: orders over the HTTP broker protocol.

The four venue calls translate HTTP into core acks and errors (see ``wire``); the core
base class does validation, idempotent retries and events. Nothing here retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import requests

from qmtl_core import runtime
from qmtl_core.brokerage import BaseBrokerageClient, Capabilities, OcoSupport
from qmtl_core.errors import RequestNotSent, TransientError, VenueProtocolError
from qmtl_core.execution import RetryPolicy
from qmtl_core.journal import OrderJournal
from qmtl_core.orders import Order, OrderAck, OrderType
from qmtl_core.redaction import REDACTED, Secret, redact_url
from qmtl_plugin_http.config import HttpBrokerageConfig
from qmtl_plugin_http.protocol import IDEMPOTENCY_HEADER, order_path
from qmtl_plugin_http.transport import Answer, Transport
from qmtl_plugin_http.wire import (
    not_cancelable,
    parse_ack,
    raise_for_answer,
    retry_after_seconds,
    transport_error,
)

#: What one request costs in the rate budget's pools (see ``rate_limits``).
REQUEST_COSTS: Mapping[str, int] = {"requests": 1}
ORDER_COSTS: Mapping[str, int] = {"orders": 1, "requests": 1}


class TradeExecutionService(BaseBrokerageClient):
    """Posts, polls and cancels orders at ``url``, retrying only what is safe to retry.

    Safe to share between threads. Every request times out after
    ``runtime.HTTP_TIMEOUT_SECONDS``, read when the request is made.
    """

    capabilities = Capabilities(OcoSupport.MANUAL, frozenset(OrderType))

    def __init__(
        self,
        url: str,
        max_retries: int | None = None,
        backoff: float | None = None,
        *,
        token: str | Secret | None = None,
        journal: OrderJournal | None = None,
        rate_limits: Mapping[str, Any] | None = None,
        account: str | None = None,
        rate_limit_max_wait: float | None = None,
        state: str | None = None,
    ) -> None:
        given = {
            "url": url,
            "max_retries": max_retries,
            "backoff": backoff,
            "token": token,
            "rate_limits": rate_limits,
            "account": account,
            "rate_limit_max_wait": rate_limit_max_wait,
            "state": state,
        }
        self._configure(
            HttpBrokerageConfig.parse({k: v for k, v in given.items() if v is not None}),
            journal=journal,
        )

    @classmethod
    def from_config(cls, config: HttpBrokerageConfig) -> Self:
        """The registry's factory: a client from its validated config."""
        client = cls.__new__(cls)
        client._configure(config)
        return client

    def _configure(
        self, config: HttpBrokerageConfig, *, journal: OrderJournal | None = None
    ) -> None:
        super().__init__(journal=journal)
        self.config = config
        self.url = config.orders_url
        self.retry_policy = RetryPolicy(max_retries=config.max_retries, backoff=config.backoff)
        self._token = config.token
        self._display = redact_url(self.url)
        self._transport = Transport(self.url)
        parts = urlsplit(self.url)
        venue = f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"
        self.open_rate_budget(venue, self._token, config)

    def __repr__(self) -> str:
        policy = self.retry_policy
        token = f", token={REDACTED}" if self._token is not None else ""
        return (
            f"{type(self).__name__}(url={self._display!r}, max_retries={policy.max_retries}, "
            f"backoff={policy.backoff}{token})"
        )

    def close(self) -> None:
        """Close the pooled connections and the rate budget's store connection."""
        self._transport.close()
        if self.rate_budget is not None:
            self.rate_budget.close()

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
    ) -> tuple[Answer, str]:
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
        # Every request costs 1 in 'requests'; placing an order also 1 in 'orders'.
        self.spend(ORDER_COSTS if method == "POST" else REQUEST_COSTS, idempotency_key or ref or "")
        try:
            request = transport.build(method, transport.target(ref), payload, headers)
        except (requests.RequestException, ValueError, TypeError) as exc:
            # Raised while building the request here: not one byte has left the process.
            raise RequestNotSent(f"{action}: cannot build the request: {exc}") from exc
        try:
            resp = transport.send(method, request, runtime.HTTP_TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            raise transport_error(action, exc) from exc
        self.answered(resp.status_code, retry_after_seconds(resp.headers.get("Retry-After")), {})
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
