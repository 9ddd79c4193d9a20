"""The HTTP broker protocol's shared vocabulary: paths, headers and status names.

Client and reference server both import it, so the two cannot drift apart.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from qmtl_core.orders import OrderStatus

#: Carries the order's ``client_order_id`` on every attempt of a POST.
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Set to ``true`` when a POST answered with an order placed by an earlier attempt.
REPLAYED_HEADER = "Idempotent-Replayed"
#: Where the reference server serves orders unless told otherwise.
DEFAULT_ORDERS_PATH = "/api/orders"

#: Status words brokers commonly use, mapped onto the core vocabulary. The core names
#: (``new``, ``filled`` ...) are always accepted; anything else is a protocol error.
STATUS_ALIASES: dict[str, OrderStatus] = {
    "open": OrderStatus.NEW,
    "accepted": OrderStatus.NEW,
    "pending": OrderStatus.NEW,
    "partial": OrderStatus.PARTIALLY_FILLED,
    "partially-filled": OrderStatus.PARTIALLY_FILLED,
    "cancelled": OrderStatus.CANCELED,
}


def order_path(base: str, ref: str) -> str:
    """``{base}/{ref}`` with ``ref`` percent-encoded: client ids may contain ``/``."""
    return f"{base}/{quote(ref, safe='')}"


def ref_from_path(base: str, path: str) -> str | None:
    """The order reference in ``path`` below ``base``, or None if ``path`` is not one."""
    prefix = base + "/"
    if not path.startswith(prefix) or len(path) == len(prefix):
        return None
    rest = path[len(prefix) :]
    return None if "/" in rest else unquote(rest)
