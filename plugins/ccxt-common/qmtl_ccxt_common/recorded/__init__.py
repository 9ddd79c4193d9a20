"""Recorded Binance REST answers, served to real ccxt exchange objects through ``responses``.

The offline demos, the docs and the tests run the real client and the real ccxt code;
only the venue is replaced. Every host ccxt may call (live, testnet, demo) answers
from the documented response shapes stored next to this module as JSON; the order
endpoints fill each request's values (client id, quantity, price, time in force)
into those shapes and keep a small book of orders, so a later query, cancel or
duplicate check sees what an earlier request did. Signed requests are checked like
Binance does (API key header, HMAC signature, timestamp within ``recvWindow``).

Nothing reaches the network: a request that no route matches fails, and leaving the
``with`` block raises if any did::

    with binance_spot() as venue:
        client = CcxtBrokerageClient(
            "binance", apiKey=OFFLINE_API_KEY, secret=OFFLINE_SECRET, sandbox=True
        )
        ack = client.post_order({...})
        venue.fill(ack.client_order_id)          # the market moves
        venue.fail_next("POST", "order", "timeout", landed=True)   # inject a fault
        venue.sent("POST", "order")[0].params    # what ccxt actually sent
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qsl, urlsplit

import requests
import responses

from qmtl_ccxt_common.metering import venue_limits
from qmtl_core.testing.venue_limits import WindowLimiter

#: Credentials the recorded venue accepts; they open nothing anywhere else.
OFFLINE_API_KEY = "offline-api-key-not-a-secret-0001"
OFFLINE_SECRET = "offline-secret-not-a-secret-0001"  # noqa: S105 - opens nothing real

OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
#: Binance's documented request weights of the endpoints served (1 when not listed).
ENDPOINT_WEIGHTS: Mapping[tuple[str, str], int] = {
    ("GET", "exchangeInfo"): 20,
    ("GET", "order"): 4,
    ("GET", "openOrders"): 6,
    ("GET", "account"): 20,
    ("GET", "ticker/24hr"): 2,
}
#: Usage header per pool kind, suffixed with the interval (``X-MBX-USED-WEIGHT-1M``).
USAGE_HEADERS = {"weight": "X-MBX-USED-WEIGHT", "orders": "X-MBX-ORDER-COUNT"}
#: Faults that are not venue answers: the request (maybe) arrived, the answer did not.
TRANSPORT_FAULTS: Mapping[str, Callable[[], Exception]] = {
    "timeout": lambda: requests.exceptions.ReadTimeout("read timed out (recorded fault)"),
    "disconnect": lambda: requests.exceptions.ConnectionError(
        "Connection aborted. (recorded fault)"
    ),
}
#: Answers that are not what the venue documents: HTTP 200 with a body no order parser
#: can read (a proxy's error page, a truncated answer).
GARBAGE_ANSWERS: Mapping[str, str] = {
    "not_json": "{not json",
    "empty_object": "{}",
    "empty_list": "[]",
}
_UNMATCHED = "Connection refused by Responses"
R = TypeVar("R", bound="BinanceReplay")
Handler = Callable[["SeenRequest"], Any]
#: (method, path, signed, handler)
Route = tuple[str, str, bool, Handler]


def load_recording(name: str, package: str = __name__) -> dict[str, Any]:
    """A recorded JSON document shipped in ``package`` (``binance_spot`` ...)."""
    text = resources.files(package).joinpath(f"{name}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


class VenueAnswer(Exception):
    """Raised by a handler to answer with a recorded error (``data["errors"][name]``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


@dataclass(frozen=True)
class SeenRequest:
    """One request as the venue received it, for assertions on what ccxt sent."""

    method: str
    host: str
    path: str
    name: str
    params: Mapping[str, str]
    headers: Mapping[str, str]
    #: ``time.perf_counter()`` when the venue received it (reaction-time benchmarks).
    at: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class Fault:
    kind: str  # a recorded error name, or one of TRANSPORT_FAULTS
    landed: bool  # the request took effect before the fault hid the answer
    retry_after: float | None = None  # replaces the recorded Retry-After header


@dataclass
class ReplayOrder:
    """An order in the recorded venue's book."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None
    time_in_force: str | None
    created: int
    status: str = "NEW"
    executed: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)
    fills: list[tuple[Decimal, Decimal]] = field(default_factory=list)
    updated: int = 0
    position_side: str = "BOTH"
    reduce_only: bool = False

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def average(self) -> Decimal:
        return self.quote / self.executed if self.executed else Decimal(0)


class BinanceReplay:
    """Binance spot (``/api/v3``), recorded; subclasses serve other Binance products."""

    recording: ClassVar[str] = "binance_spot"
    package: ClassVar[str] = __name__
    hosts: ClassVar[tuple[str, ...]] = (
        "api.binance.com",
        "testnet.binance.vision",
        "demo-api.binance.com",
    )
    duplicate_error: ClassVar[str] = "duplicateOrder"
    #: Where the market, order and ticker endpoints every product shares live.
    prefix: ClassVar[str] = "/api/v3"

    def __init__(
        self,
        mock: responses.RequestsMock,
        *,
        api_key: str = OFFLINE_API_KEY,
        secret: str = OFFLINE_SECRET,
    ) -> None:
        self.mock = mock
        self.data = load_recording(self.recording, self.package)
        self.api_key = api_key
        self.secret = secret
        #: The venue's clock minus ours, in ms; negative puts our requests "ahead".
        self.clock_offset_ms = 0
        self.orders: dict[int, ReplayOrder] = {}
        self.requests: list[SeenRequest] = []
        self.last_prices = {s: Decimal(p) for s, p in self.data["lastPrices"].items()}
        self._ids = itertools.count(int(self.data["firstOrderId"]))
        self._faults: dict[tuple[str, str], deque[Fault]] = defaultdict(deque)
        self._lock = threading.RLock()
        #: Binance's limits, enforced in fixed clock-aligned windows (429 beyond them).
        self.limiter = WindowLimiter(venue_limits(self.data["exchangeInfo"]["rateLimits"]))

    # --- routes -------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """(method, path, signed, handler) for every endpoint served."""
        p = self.prefix
        return [
            ("GET", f"{p}/exchangeInfo", False, self._exchange_info),
            ("GET", f"{p}/time", False, self._time),
            ("POST", f"{p}/order", True, self._create),
            ("GET", f"{p}/order", True, self._query),
            ("DELETE", f"{p}/order", True, self._cancel),
            ("GET", f"{p}/openOrders", True, self._open_orders),
            ("GET", f"{p}/ticker/24hr", False, self._ticker),
            *self.product_routes(),
        ]

    def product_routes(self) -> list[Route]:
        """The endpoints only this product serves (spot: the account)."""
        return [("GET", "/api/v3/account", True, lambda _: self.data["account"])]

    def install(self) -> None:
        hosts = "|".join(re.escape(h) for h in self.hosts)
        for method, path, signed, handler in self.routes():
            url = re.compile(rf"https://({hosts}){re.escape(path)}(\?.*)?$")
            self.mock.add_callback(
                method,
                url,
                callback=self._responder(method, path, signed, handler),
                content_type="application/json",
            )

    # --- controls for demos and tests ---------------------------------------------

    def fail_next(
        self,
        method: str,
        name: str,
        kind: str,
        *,
        landed: bool = False,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``method name`` request (e.g. "POST", "order") with a fault.

        ``kind`` is a recorded error ("insufficientBalance", "tooManyRequests" ...),
        "timeout"/"disconnect", or a garbage 200 answer ("not_json", "empty_object",
        "empty_list"); ``landed=True`` applies the request first, so the order exists
        although its answer was lost.
        """
        kinds = (TRANSPORT_FAULTS, GARBAGE_ANSWERS, self.data["errors"])
        if not any(kind in known for known in kinds):
            known = sorted([name for names in kinds for name in names])
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(known)}")
        with self._lock:
            self._faults[(method, name)].append(Fault(kind, landed, retry_after))

    def fill(self, client_order_id: str, quantity: Any = None, price: Any = None) -> ReplayOrder:
        """Execute (part of) an open order, as if the market traded through it."""
        with self._lock:
            order = self.order(client_order_id)
            if not order.is_open:
                raise ValueError(f"order {client_order_id} is {order.status}, not open")
            qty = order.quantity - order.executed if quantity is None else Decimal(str(quantity))
            at = Decimal(str(price)) if price is not None else order.price
            self._execute(order, qty, at if at is not None else self.last_prices[order.symbol])
            return order

    def set_price(self, symbol: str, price: Any) -> list[ReplayOrder]:
        """Move ``symbol``'s last price; resting limit orders it crosses fill at their limit."""
        with self._lock:
            last = self.last_prices[symbol] = Decimal(str(price))
            crossed = [
                o
                for o in self.orders.values()
                if o.is_open
                and o.symbol == symbol
                and o.price is not None
                and (last <= o.price if o.side == "BUY" else last >= o.price)
            ]
            for order in crossed:
                self._execute(order, order.quantity - order.executed, order.price or last)
            return crossed

    def order(self, client_order_id: str) -> ReplayOrder:
        with self._lock:
            matches = [o for o in self.orders.values() if o.client_order_id == client_order_id]
        if not matches:
            raise KeyError(f"no order with client id {client_order_id!r}")
        return matches[-1]

    def sent(self, method: str, name: str) -> list[SeenRequest]:
        """Requests received for one endpoint, oldest first."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.name == name]

    def unmatched(self) -> list[str]:
        """URLs that were requested but matched no route (they never left the process)."""
        return [
            str(call.request.url)
            for call in self.mock.calls
            if isinstance(call.response, requests.ConnectionError)
            and _UNMATCHED in str(call.response)
        ]

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    # --- serving --------------------------------------------------------------------

    def _responder(
        self, method: str, path: str, signed: bool, handler: Handler
    ) -> Callable[[requests.PreparedRequest], Any]:
        name = path.split("/", 3)[-1]

        def respond(request: requests.PreparedRequest) -> Any:
            parts = urlsplit(str(request.url))
            body = request.body.decode() if isinstance(request.body, bytes) else request.body
            raw = parts.query + (body or "")
            seen = SeenRequest(
                method,
                parts.hostname or "",
                path,
                name,
                dict(parse_qsl(parts.query)) | dict(parse_qsl(body or "")),
                dict(request.headers),
            )
            with self._lock:
                self.requests.append(seen)
                placing = method == "POST" and name == "order"
                wait = self.limiter.admit(self._costs(method, name, placing))
                if wait is not None:
                    status, headers, text = self._error("tooManyRequests")
                    return status, {**headers, "Retry-After": str(math.ceil(wait))}, text
                usage = self._usage(placing)
                queue = self._faults.get((method, name))
                fault = queue.popleft() if queue else None
                if fault is not None and not fault.landed:
                    return self._fault(fault)
                answer: tuple[int, dict[str, str], str]
                try:
                    if signed:
                        self._authenticate(seen, raw)
                    answer = (200, usage, json.dumps(handler(seen)))
                except VenueAnswer as exc:
                    answer = self._error(exc.name)
                return answer if fault is None else self._fault(fault)

        return respond

    def _costs(self, method: str, name: str, placing: bool) -> dict[str, int]:
        """What Binance counts for one request: its weight, one raw request, one order."""
        costs: dict[str, int] = {}
        for pool in self.limiter.limits:
            if pool.startswith("weight_"):
                costs[pool] = ENDPOINT_WEIGHTS.get((method, name), 1)
            elif pool.startswith("raw_requests_") or (pool.startswith("orders_") and placing):
                costs[pool] = 1
        return costs

    def _usage(self, placing: bool) -> dict[str, str]:
        """``X-MBX-USED-WEIGHT-1M`` on every answer, ``X-MBX-ORDER-COUNT-10S`` on orders."""
        headers = {}
        for pool in self.limiter.limits:
            kind, _, interval = pool.rpartition("_")
            header = USAGE_HEADERS.get(kind)
            if header and (kind != "orders" or placing):
                headers[f"{header}-{interval.upper()}"] = str(self.limiter.used(pool))
        return headers

    def set_rate_limits(self, rate_limits: list[dict[str, Any]]) -> None:
        """Enforce (and publish in ``exchangeInfo``) these ``rateLimits`` from now on."""
        with self._lock:
            self.data["exchangeInfo"]["rateLimits"] = rate_limits
            self.limiter = WindowLimiter(venue_limits(rate_limits))

    def _fault(self, fault: Fault) -> Any:
        if fault.kind in TRANSPORT_FAULTS:
            return TRANSPORT_FAULTS[fault.kind]()
        if fault.kind in GARBAGE_ANSWERS:
            return 200, {}, GARBAGE_ANSWERS[fault.kind]
        status, headers, body = self._error(fault.kind)
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        return status, headers, body

    def _error(self, name: str) -> tuple[int, dict[str, str], str]:
        error = self.data["errors"][name]
        return int(error["status"]), dict(error.get("headers", {})), json.dumps(error["body"])

    def _authenticate(self, seen: SeenRequest, raw: str) -> None:
        """Binance's checks on SIGNED endpoints, in Binance's order."""
        if seen.headers.get("X-MBX-APIKEY") != self.api_key:
            raise VenueAnswer("invalidApiKey")
        payload, _, signature = raw.rpartition("&signature=")
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            raise VenueAnswer("invalidSignature")
        stamp = int(seen.params.get("timestamp", "0"))
        window = int(seen.params.get("recvWindow", "5000"))
        server = self.now_ms()
        if stamp >= server + 1000 or server - stamp > window:
            raise VenueAnswer("timestampOutsideRecvWindow")

    # --- handlers -------------------------------------------------------------------

    def _exchange_info(self, _: SeenRequest) -> Any:
        return {**self.data["exchangeInfo"], "serverTime": self.now_ms()}

    def _time(self, _: SeenRequest) -> Any:
        return {"serverTime": self.now_ms()}

    def _ticker(self, seen: SeenRequest) -> Any:
        """24h statistics around the current last price (only the last price moves)."""
        symbol = self._symbol(seen.params.get("symbol"))
        template: dict[str, Any] = self.data["ticker24hrTemplate"]
        last = self.number(self.last_prices[symbol])
        values = {"symbol": symbol, "lastPrice": last, "bidPrice": last, "askPrice": last}
        return {key: values.get(key, example) for key, example in template.items()}

    def _symbol(self, symbol: str | None) -> str:
        known = {s["symbol"] for s in self.data["exchangeInfo"]["symbols"]}
        if symbol is None or symbol not in known:
            raise VenueAnswer("invalidSymbol")
        return symbol

    def _create(self, seen: SeenRequest) -> Any:
        p = seen.params
        symbol = self._symbol(p.get("symbol"))
        coid = p.get("newClientOrderId") or f"replay{next(self._ids)}"
        if any(o.client_order_id == coid and o.is_open for o in self.orders.values()):
            raise VenueAnswer(self.duplicate_error)
        now = self.now_ms()
        order = ReplayOrder(
            order_id=next(self._ids),
            client_order_id=coid,
            symbol=symbol,
            side=p["side"],
            type=p["type"],
            quantity=Decimal(p["quantity"]),
            price=Decimal(p["price"]) if "price" in p else None,
            time_in_force=p.get("timeInForce"),
            created=now,
            updated=now,
        )
        self._accept(order, p)
        self.orders[order.order_id] = order
        if order.type == "MARKET":
            self._execute(order, order.quantity, self.last_prices[symbol])
        return self.render("create", order)

    def _accept(self, order: ReplayOrder, params: Mapping[str, str]) -> None:
        """Product-specific checks and fields of a new order (spot: none)."""

    def _find(self, params: Mapping[str, str], missing: str) -> ReplayOrder:
        if "orderId" in params:
            order = self.orders.get(int(params["orderId"]))
        else:
            coid = params.get("origClientOrderId")
            order = next(
                (o for o in reversed(self.orders.values()) if o.client_order_id == coid), None
            )
        if order is None or order.symbol != params.get("symbol"):
            raise VenueAnswer(missing)
        return order

    def _query(self, seen: SeenRequest) -> Any:
        return self.render("query", self._find(seen.params, "orderDoesNotExist"))

    def _cancel(self, seen: SeenRequest) -> Any:
        order = self._find(seen.params, "unknownOrder")
        if not order.is_open:
            # Binance does not tell "filled" from "never existed" on cancel.
            raise VenueAnswer("unknownOrder")
        order.status = "CANCELED"
        order.updated = self.now_ms()
        return self.render(
            "cancel",
            order,
            origClientOrderId=order.client_order_id,
            clientOrderId=f"cancel{next(self._ids)}",
        )

    def _open_orders(self, seen: SeenRequest) -> Any:
        symbol = seen.params.get("symbol")
        return [
            self.render("query", o)
            for o in self.orders.values()
            if o.is_open and (symbol is None or o.symbol == symbol)
        ]

    def _execute(self, order: ReplayOrder, quantity: Decimal, price: Decimal) -> None:
        order.executed += quantity
        order.quote += quantity * price
        order.fills.append((price, quantity))
        order.status = "FILLED" if order.executed >= order.quantity else "PARTIALLY_FILLED"
        order.updated = self.now_ms()

    # --- rendering ------------------------------------------------------------------

    def render(self, template: str, order: ReplayOrder, **overrides: Any) -> dict[str, Any]:
        """The recorded ``template`` with every field it shares with ``order`` filled in."""
        values = {**self.fields(order), **overrides}
        shape: dict[str, Any] = self.data["orderTemplates"][template]
        return {key: values.get(key, example) for key, example in shape.items()}

    def fields(self, order: ReplayOrder) -> dict[str, Any]:
        rate = Decimal(self.data["commissionRate"])
        quote_asset = self._quote_asset(order.symbol)
        return {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "clientOrderId": order.client_order_id,
            "transactTime": order.updated,
            "price": self.number(order.price or Decimal(0)),
            "origQty": self.number(order.quantity),
            "executedQty": self.number(order.executed),
            "cummulativeQuoteQty": self.number(order.quote),
            "status": order.status,
            "timeInForce": order.time_in_force or "GTC",
            "type": order.type,
            "side": order.side,
            "time": order.created,
            "updateTime": order.updated,
            "workingTime": order.created,
            "isWorking": order.is_open,
            "fills": [
                {
                    "price": self.number(price),
                    "qty": self.number(qty),
                    "commission": self.number(price * qty * rate),
                    "commissionAsset": quote_asset,
                    "tradeId": order.order_id * 10 + i,
                }
                for i, (price, qty) in enumerate(order.fills)
            ],
        }

    def _quote_asset(self, symbol: str) -> str:
        info = next(s for s in self.data["exchangeInfo"]["symbols"] if s["symbol"] == symbol)
        return str(info["quoteAsset"])

    @staticmethod
    def number(value: Decimal) -> str:
        """Binance spot's decimal text: eight places."""
        return f"{value:.8f}"


class ReplayHarness:
    """A recorded venue seen as the conformance kit's ``VenueHarness`` (qmtl_core.testing)."""

    #: Conformance fault -> how this venue produces it.
    FAULTS: ClassVar[Mapping[str, tuple[str, bool]]] = {
        "transient": ("internalError", False),  # 500: nothing placed, outcome unknown to us
        "ambiguous": ("timeout", True),  # the order lands, its answer is lost
        "rate_limit": ("tooManyRequests", False),
        "reject": ("insufficientBalance", False),
    }

    def __init__(self, replay: BinanceReplay, symbol: str = "BTC/USDT") -> None:
        self.replay = replay
        self.symbol = symbol
        self.venue_symbol = symbol.replace("/", "")
        self.price = str(replay.last_prices[self.venue_symbol])
        self.secrets = (replay.api_key, replay.secret)

    def set_price(self, price: str) -> None:
        self.replay.set_price(self.venue_symbol, price)

    def order_count(self) -> int:
        return len(self.replay.orders)

    def inject(self, fault: str, *, retry_after: float = 0.2) -> bool:
        kind, landed = self.FAULTS[fault]
        self.replay.fail_next(
            "POST",
            "order",
            kind,
            landed=landed,
            retry_after=retry_after if fault == "rate_limit" else None,
        )
        return True


@contextmanager
def replaying(cls: type[R], **options: Any) -> Iterator[R]:
    """Serve ``cls``'s recording for the duration of the block; fail on unmatched requests."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        venue = cls(mock, **options)
        venue.install()
        yield venue
        missed = venue.unmatched()
        if missed:
            raise RuntimeError(f"requests outside the recording (never sent): {missed}")


def binance_spot(**options: Any) -> AbstractContextManager[BinanceReplay]:
    """``with binance_spot() as venue:`` recorded Binance spot on every Binance spot host."""
    return replaying(BinanceReplay, **options)
