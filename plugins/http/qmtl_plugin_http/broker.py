"""The reference broker's behaviour, independent of sockets: request in, answer out.

Orders go to a :class:`~qmtl_plugin_fake.paper.PaperEngine`. A POST is idempotent on its
``Idempotency-Key`` (which is the order's ``client_order_id``): a repeat answers the
original order, the same key with a different order is a 422.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from qmtl_core.errors import OrderNotCancelable, OrderNotFound, OrderRejected, OrderValidationError
from qmtl_core.orders import OrderType, validate_order
from qmtl_core.redaction import Secret
from qmtl_plugin_fake.paper import PaperEngine
from qmtl_plugin_http.faults import Fault, FaultPlan
from qmtl_plugin_http.protocol import IDEMPOTENCY_HEADER, REPLAYED_HEADER, ref_from_path

ADMIN_PREFIX = "/admin/"
_ALL_TYPES = frozenset(OrderType)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, JSON-ready body, extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class BadRequest(Exception):
    """The request itself is wrong; answered with ``status`` and the message."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def _error(code: int, message: str, **extra: Any) -> Answer:
    return Answer(code, {"error": message, **extra})


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body) if body else None
    except ValueError as exc:
        raise BadRequest(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(400, "body must be a JSON object")
    return data


class BrokerApp:
    """Routes protocol requests to the engine; admin routes move prices and add faults."""

    def __init__(
        self, engine: PaperEngine, faults: FaultPlan, orders_path: str, token: Secret | None
    ) -> None:
        self.engine = engine
        self.faults = faults
        self.orders_path = orders_path
        self._token = token
        self._create_lock = threading.Lock()

    def handle(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        idempotency_key: str | None = None,
        authorization: str | None = None,
    ) -> Answer:
        """Answer one request; never raises."""
        try:
            if path.startswith(ADMIN_PREFIX):
                return self._admin(method, path, body)
            self._authorize(authorization)
            return self._orders(method, path, body, idempotency_key)
        except BadRequest as exc:
            return _error(exc.status, str(exc))
        except OrderValidationError as exc:
            return _error(400, str(exc), field=exc.field)
        except OrderNotCancelable as exc:
            return _error(409, str(exc), id=exc.order_id, status=exc.status)
        except OrderNotFound as exc:
            return _error(404, str(exc))
        except OrderRejected as exc:
            return _error(422, str(exc))
        except Exception as exc:
            log.exception("reference broker: %s %s failed", method, path)
            return _error(500, f"internal error: {type(exc).__name__}")

    def _authorize(self, authorization: str | None) -> None:
        if self._token is None:
            return
        expected = f"Bearer {self._token.reveal()}".encode()
        if not hmac.compare_digest((authorization or "").encode(), expected):
            raise BadRequest(401, "missing or invalid bearer token")

    def _orders(self, method: str, path: str, body: bytes, key: str | None) -> Answer:
        if path == self.orders_path:
            if method != "POST":
                raise BadRequest(405, f"{method} {path}: use POST to place an order")
            return self._create(body, key)
        ref = ref_from_path(self.orders_path, path)
        if ref is None:
            raise BadRequest(404, f"no endpoint {path}; orders live at {self.orders_path}")
        if method == "GET":
            return Answer(200, self.engine.get(ref).raw)
        if method == "DELETE":
            return Answer(200, self.engine.cancel(ref).raw)
        raise BadRequest(405, f"{method} {path}: use GET or DELETE on an order")

    def _create(self, body: bytes, key: str | None) -> Answer:
        data = _json_object(body)
        if key is not None:
            given = data.setdefault("client_order_id", key)
            if given != key:
                raise BadRequest(
                    400,
                    f"{IDEMPOTENCY_HEADER} {key!r} must equal the body's client_order_id {given!r}",
                )
        order = validate_order(data, order_types=_ALL_TYPES)
        with self._create_lock:
            replay = self.engine.find(order.client_order_id) is not None
            ack = self.engine.submit(order)
        if replay:
            return Answer(200, ack.raw, {REPLAYED_HEADER: "true"})
        return Answer(201, ack.raw)

    def _admin(self, method: str, path: str, body: bytes) -> Answer:
        route = (method, path.removeprefix(ADMIN_PREFIX))
        if route == ("POST", "price"):
            data = _json_object(body)
            symbol, price = data.get("symbol"), data.get("price")
            if not isinstance(symbol, str) or price is None:
                raise BadRequest(400, 'expected {"symbol": "BTC/USDT", "price": 50000}')
            filled = self.engine.update_price(symbol, price)
            return Answer(200, {"symbol": symbol, "filled": [ack.id for ack in filled]})
        if route == ("GET", "orders"):
            orders = [ack.raw for ack in self.engine.orders()]
            return Answer(200, {"count": len(orders), "orders": orders})
        if route == ("POST", "faults"):
            data = _json_object(body)
            times = data.get("times", 1)
            try:
                self.faults.add(Fault.from_json(data), times)
            except ValueError as exc:
                raise BadRequest(400, f"bad fault: {exc}") from None
            return Answer(200, {"pending": self.faults.pending()})
        if route == ("DELETE", "faults"):
            self.faults.clear()
            return Answer(200, {"pending": 0})
        raise BadRequest(
            404,
            f"no admin endpoint {method} {path}; have POST /admin/price, GET /admin/orders, "
            "POST and DELETE /admin/faults",
        )
