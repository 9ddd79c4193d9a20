"""One error hierarchy for the whole connector layer.

Callers branch on these types to decide what is safe: a ``TransientError`` may be
retried, an ``OrderRejected`` must not be, and ``OrderStatusUnknown`` means "go and
reconcile before sending anything again".
"""

from __future__ import annotations

from typing import Any


class QmtlConnectorError(Exception):
    """Base of every error raised by qmtl_core and its plugins."""


SHOWN_MAX_CHARS = 80


def shown(value: Any) -> str:
    """``repr(value)`` cut to a readable length, for error messages about any input.

    A message must never fail to build: ``repr`` of an int with thousands of digits
    raises ``ValueError`` and a hostile ``__repr__`` may raise anything.
    """
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__} that cannot be shown>"
    if len(text) > SHOWN_MAX_CHARS:
        return f"{text[: SHOWN_MAX_CHARS - 20]}...({len(text)} chars)"
    return text


# --- configuration and plugins -------------------------------------------------


class ConfigError(QmtlConnectorError, ValueError):
    """A ``qmtl.yml`` or connector option is wrong; names the file, line and key."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        self.key = key
        self.file = file
        self.line = line
        self.message = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file:
            where.append(self.file if self.line is None else f"{self.file}:{self.line}")
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.key:
            where.append(f"key '{self.key}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConfigErrors(ConfigError):
    """Several config errors found in one pass, so a user fixes them all at once."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))

    def _format(self) -> str:
        return self.message


class PluginError(QmtlConnectorError):
    """A plugin failed to load, register, or claimed a name another plugin owns."""


class UnknownConnectorError(PluginError, LookupError):
    """No installed plugin provides the requested connector name."""


class NewPluginError(QmtlConnectorError, ValueError):
    """``qmtl-connectors new-plugin`` cannot write the plugin: the name is not usable
    (not a valid distribution or entry-point name, or already taken), or the folder
    exists."""


# --- orders --------------------------------------------------------------------


class OrderValidationError(QmtlConnectorError, ValueError):
    """An order failed validation before anything left the process."""

    def __init__(self, field: str, value: Any, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"order field '{field}' = {shown(value)}: {rule}")


class BrokerageError(QmtlConnectorError):
    """Something went wrong talking to a venue."""


class OrderRejected(BrokerageError):
    """The venue refused the request; re-sending it unchanged will not help."""

    def __init__(self, message: str, *, status_code: int | None = None, raw: Any = None) -> None:
        self.status_code = status_code
        self.raw = raw
        super().__init__(message)


class RequestNotSent(OrderRejected):
    """The request could not be built in this process (the transport refused a header,
    the URL or the body), so nothing was sent; re-sending it unchanged will not help."""


class OrderNotFound(OrderRejected, LookupError):
    """The venue does not know the order id."""


class OrderNotCancelable(OrderRejected):
    """The order is already complete (filled, canceled, ...), so it cannot be canceled."""

    def __init__(self, order_id: str, status: str, *, raw: Any = None) -> None:
        self.order_id = order_id
        self.status = status
        super().__init__(f"order {order_id} is already {status}; nothing to cancel", raw=raw)


class AuthenticationError(BrokerageError):
    """Credentials were refused; retrying will not help."""


class TransientError(BrokerageError):
    """A failure that may go away on retry.

    ``ambiguous`` is True when the request may have reached the venue (a timeout
    after sending, a dropped connection, a 5xx): the order might exist, so it must
    be looked up before any re-send.
    """

    def __init__(self, message: str, *, ambiguous: bool, retry_after: float | None = None) -> None:
        self.ambiguous = ambiguous
        self.retry_after = retry_after
        super().__init__(message)


class RateLimited(TransientError):
    """Too fast for the venue: it said so (HTTP 429/418, Binance -1003/-1015, ccxt
    RateLimitExceeded), or our own rate budget refused to send (``by_budget``).

    Either way nothing was placed. ``pool`` names the exhausted budget pool and
    ``needed`` the seconds the request would have had to wait. A budget refusal came
    after waiting ``rate_limit_max_wait`` already, so the retry loop does not retry it.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        pool: str | None = None,
        needed: float | None = None,
        by_budget: bool = False,
    ) -> None:
        self.pool = pool
        self.needed = needed
        self.by_budget = by_budget
        super().__init__(message, ambiguous=False, retry_after=retry_after)


class VenueProtocolError(BrokerageError):
    """The venue answered with something we cannot interpret (bad JSON, unknown status)."""


class OrderStatusUnknown(BrokerageError):
    """Attempts ran out and we cannot tell whether the order exists.

    Never treat this as a rejection: reconcile by ``client_order_id`` first.
    """

    def __init__(self, client_order_id: str, message: str) -> None:
        self.client_order_id = client_order_id
        super().__init__(f"outcome of order {client_order_id} unknown: {message}")


class FeedError(QmtlConnectorError):
    """A live data feed failed."""


class FeedAuthenticationError(FeedError, AuthenticationError):
    """The feed's handshake was refused (401/403)."""
