"""A loopback Binance (spot) for ccxt.pro: REST and WebSocket on one 127.0.0.1 port.

It speaks the documented shapes (records in ``binance_streams.json`` and ccxt-common's
recorded ``exchangeInfo``): ``SUBSCRIBE``/``UNSUBSCRIBE`` with their responses, trade,
diff-depth with update ids ``U``/``u``, kline and 24h ticker streams, and the REST
exchange info and depth snapshot ccxt.pro fetches around them. ccxt.pro's real
``binance`` class is pointed at it with :meth:`BinanceStandIn.urls` (its ``urls``
constructor setting); nothing leaves the machine.

The server runs on its own thread and loop, so tests, docs and benchmarks on any loop
can use it. Publishing methods are coroutines that return once the frame is written
(a consumer that stops reading stalls the publisher: real TCP back-pressure).
Faults: :meth:`drop` (cut every connection), :meth:`depth` with ``lost=True`` (a depth
sequence gap),:meth:`silence` (stop answering, pings included), :meth:`send_raw` (malformed frames).

The user-data stream is the WebSocket API's, as ccxt.pro 4.5 uses it for spot
``watch_orders``: ``userDataStream.subscribe.signature`` on ``/ws-api/v3`` (API key and
HMAC-SHA256 signature checked like Binance does), then :meth:`execution_report` pushes
``{"subscriptionId": n, "event": {"e": "executionReport", ...}}`` frames.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Coroutine, Mapping, Sequence
from decimal import Decimal
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from aiohttp import WSMsgType, web

from qmtl_ccxt_common.recorded import ReplayOrder, load_recording

T = TypeVar("T")
Levels = Sequence[tuple[str, str]]


def load_records() -> dict[str, Any]:
    """The Binance stream records the stand-in fills in (see the module docstring)."""
    text = resources.files(__package__).joinpath("binance_streams.json").read_text("utf-8")
    records: dict[str, Any] = json.loads(text)
    return records


def _market_id(symbol: str) -> str:
    return symbol.replace("/", "")


class BinanceStandIn:
    """``with BinanceStandIn() as venue:`` a Binance spot venue on a free loopback port."""

    def __init__(self, *, api_key: str | None = None, secret: str | None = None) -> None:
        #: Credentials a user-data subscription must be signed with (None: refused).
        self.api_key, self.secret = api_key, secret
        self.records = load_records()
        self.exchange_info = load_recording("binance_spot")["exchangeInfo"]
        #: Every SUBSCRIBE/UNSUBSCRIBE request received, in order, across connections.
        self.requests: list[dict[str, Any]] = []
        #: Every REST request received: (method, path, query).
        self.rest: list[tuple[str, str, dict[str, str]]] = []
        self._subscribers: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        #: Open WebSocket connections and their transports (for the connection faults).
        self._sockets: dict[web.WebSocketResponse, asyncio.BaseTransport] = {}
        self._books: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
        self._update_ids: dict[str, int] = defaultdict(lambda: 1000)
        self._trade_ids = 0
        #: Open user-data subscriptions: connection -> subscriptionId.
        self._user_streams: dict[web.WebSocketResponse, int] = {}
        self._subscription_ids = itertools.count()
        self._silent = False
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="binance-stand-in")
        self.port = 0

    # --- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> BinanceStandIn:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and join the server thread."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/depth", self._depth)
        app.router.add_get("/ws-api/v3", self._websocket)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/ws/{stream}", self._websocket)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _shutdown(self) -> None:
        await self._drop()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what ccxt is told -----------------------------------------------------------

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def urls(self) -> dict[str, Any]:
        """ccxt's ``urls`` setting that sends every Binance REST and WS call here."""
        import ccxt.pro  # the stand-in serves ccxt; importing it is the caller's business

        described = ccxt.pro.binance().describe()["urls"]["api"]
        return {"api": self._rewrite(described)}

    def ws_urls(self) -> dict[str, Any]:
        """Only the WebSocket part of :meth:`urls` (ccxt merges ``urls`` into its own):
        REST stays where it was, e.g. with a recorded REST venue beside the stand-in."""
        return {"api": {"ws": self.urls()["api"]["ws"]}}

    def _rewrite(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: self._rewrite(item) for key, item in value.items()}
        if isinstance(value, str) and "://" in value:
            parts = urlsplit(value)
            scheme = "ws" if parts.scheme in ("ws", "wss") else "http"
            return f"{scheme}://127.0.0.1:{self.port}{parts.path}"
        return value

    # --- REST ------------------------------------------------------------------------

    async def _exchange_info(self, request: web.Request) -> web.Response:
        self._saw(request)
        return web.json_response({**self.exchange_info, "serverTime": int(time.time() * 1000)})

    async def _depth(self, request: web.Request) -> web.Response:
        self._saw(request)
        market_id = request.query.get("symbol", "")
        bids, asks = self._books.get(market_id, ({}, {}))
        limit = int(request.query.get("limit", "100"))
        snapshot = copy.deepcopy(self.records["depthSnapshot"])
        snapshot["lastUpdateId"] = self._update_ids[market_id]
        snapshot["bids"] = _side(bids, reverse=True)[:limit]
        snapshot["asks"] = _side(asks, reverse=False)[:limit]
        return web.json_response(snapshot)

    async def _unknown(self, request: web.Request) -> web.Response:
        self._saw(request)
        return web.json_response({"code": -1100, "msg": "not served by the stand-in"}, status=404)

    def _saw(self, request: web.Request) -> None:
        self.rest.append((request.method, request.path, dict(request.query)))

    # --- WebSocket ---------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, compress=False)  # as Binance: no deflate
        await ws.prepare(request)
        if request.transport is not None:
            self._sockets[ws] = request.transport
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT and not self._silent:
                    await self._command(ws, json.loads(frame.data))
        finally:
            self._sockets.pop(ws, None)
            self._user_streams.pop(ws, None)
            for subscribers in self._subscribers.values():
                subscribers.discard(ws)
        return ws

    async def _command(self, ws: web.WebSocketResponse, command: dict[str, Any]) -> None:
        self.requests.append(command)
        method = command.get("method")
        if isinstance(method, str) and method.startswith("userDataStream."):
            await ws.send_str(json.dumps(self._user_data_command(ws, command)))
            return
        for stream in command.get("params", []):
            if method == "SUBSCRIBE":
                self._subscribers[stream].add(ws)
            elif method == "UNSUBSCRIBE":
                self._subscribers[stream].discard(ws)
        response = dict(self.records["subscribeResponse"], id=command.get("id"))
        await ws.send_str(json.dumps(response))

    def _user_data_command(
        self, ws: web.WebSocketResponse, command: dict[str, Any]
    ) -> dict[str, Any]:
        """WebSocket API user-data requests, answered as Binance documents them."""
        request_id, method = command.get("id"), command.get("method")
        if method == "userDataStream.unsubscribe":
            self._user_streams.pop(ws, None)
            return {"id": request_id, "status": 200, "result": {}}
        if method != "userDataStream.subscribe.signature":
            return _ws_error(request_id, 400, -1100, f"unknown method {method}")
        params = dict(command.get("params") or {})
        signature = params.pop("signature", "")
        if self.secret is None or params.get("apiKey") != self.api_key:
            return _ws_error(request_id, 401, -2015, "Invalid API-key, IP, or permissions.")
        query = urlencode(sorted(params.items()))
        expected = hmac.new(self.secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(signature)):
            return _ws_error(request_id, 400, -1022, "Signature for this request is not valid.")
        subscription = next(self._subscription_ids)
        self._user_streams[ws] = subscription
        return {"id": request_id, "status": 200, "result": {"subscriptionId": subscription}}

    @property
    def user_streams(self) -> int:
        """Open user-data subscriptions now."""
        return len(self._user_streams)

    async def execution_report(self, symbol: str, **fields: Any) -> None:
        """Push an ``executionReport`` (Binance's shape, ``fields`` by their one-letter
        names, e.g. ``c`` client id, ``i`` order id, ``X`` status, ``z`` filled) to every
        user-data subscriber."""
        now = int(time.time() * 1000)
        report = dict(self.records["executionReport"], E=now, T=now, s=_market_id(symbol))
        report.update(fields)
        await self._on_server(self._push_user_event(report))

    async def report_order(self, order: ReplayOrder, execution: str = "TRADE") -> None:
        """Push the ``executionReport`` of an order of the recorded REST venue
        (``qmtl_ccxt_common.recorded``) as it stands now: the two venues act as one."""
        last_price, last_qty = order.fills[-1] if order.fills else (Decimal(0), Decimal(0))
        await self.execution_report(
            order.symbol,
            c=order.client_order_id,
            i=order.order_id,
            S=order.side,
            o=order.type,
            f=order.time_in_force or "GTC",
            q=str(order.quantity),
            p=str(order.price or 0),
            x=execution,
            X=order.status,
            l=str(last_qty),
            L=str(last_price),
            z=str(order.executed),
            Z=str(order.quote),
            O=order.created,
            w=order.is_open,
        )

    async def _push_user_event(self, event: dict[str, Any]) -> None:
        if self._silent:
            return
        for ws, subscription in list(self._user_streams.items()):
            if not ws.closed:
                await ws.send_str(json.dumps({"subscriptionId": subscription, "event": event}))

    def subscribed(self, stream: str) -> int:
        """How many SUBSCRIBE requests named ``stream`` so far (across connections)."""
        return sum(
            stream in r.get("params", []) for r in self.requests if r.get("method") == "SUBSCRIBE"
        )

    def listeners(self, stream: str) -> int:
        """Open connections subscribed to ``stream`` now."""
        return len(self._subscribers.get(stream, ()))

    # --- publishing (coroutines, awaitable from any loop) --------------------------------

    def _on_server(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def trade(
        self,
        symbol: str,
        price: str,
        amount: str,
        *,
        trade_id: int | None = None,
        buyer_is_maker: bool = False,
        **extra: Any,
    ) -> None:
        """Publish one ``<symbol>@trade`` event (``extra`` fields are added to the frame)."""
        if trade_id is None:
            self._trade_ids += 1
            trade_id = self._trade_ids
        now = int(time.time() * 1000)
        frame = dict(
            self.records["trade"],
            E=now,
            T=now,
            s=_market_id(symbol),
            t=trade_id,
            p=price,
            q=amount,
            m=buyer_is_maker,
            **extra,
        )
        await self._publish(f"{_market_id(symbol).lower()}@trade", frame)

    async def trades(
        self, symbol: str, count: int, *, first_id: int = 1, pause: float = 0.0
    ) -> list[float]:
        """Publish ``count`` trades with ids from ``first_id``, ``pause`` seconds apart, in
        one go on the server (no per-trade hop between threads); returns each one's
        ``time.perf_counter()`` once written (for latency measurements)."""
        return await self._on_server(self._burst(symbol, count, first_id, pause))

    async def _burst(self, symbol: str, count: int, first_id: int, pause: float) -> list[float]:
        market_id, sent = _market_id(symbol), []
        stream = f"{market_id.lower()}@trade"
        for trade_id in range(first_id, first_id + count):
            now = int(time.time() * 1000)
            frame = dict(
                self.records["trade"],
                E=now,
                T=now,
                s=market_id,
                t=trade_id,
                p="30000.01",
                q="0.001",
                m=False,
            )
            await self._send(stream, json.dumps(frame))
            sent.append(time.perf_counter())
            if pause:
                await asyncio.sleep(pause)
        return sent

    async def depth(
        self,
        symbol: str,
        bids: Levels = (),
        asks: Levels = (),
        *,
        lost: bool = False,
    ) -> None:
        """Apply a diff to the venue's book and publish it with the next update ids.

        ``lost`` is the depth-gap fault: the venue's book moves on, the frame never arrives.
        """
        market_id = _market_id(symbol)
        book_bids, book_asks = self._books.setdefault(market_id, ({}, {}))
        first = self._update_ids[market_id] + 1
        self._update_ids[market_id] = first
        for levels, book in ((bids, book_bids), (asks, book_asks)):
            for price, amount in levels:
                if Decimal(amount) == 0:
                    book.pop(price, None)
                else:
                    book[price] = amount
        if lost:
            return
        frame = dict(
            self.records["depthUpdate"],
            E=int(time.time() * 1000),
            s=market_id,
            U=first,
            u=first,
            b=[list(level) for level in bids],
            a=[list(level) for level in asks],
        )
        await self._publish(f"{market_id.lower()}@depth@100ms", frame)

    async def kline(
        self,
        symbol: str,
        opened: int,
        ohlcv: tuple[str, str, str, str, str],
        *,
        interval: str = "1m",
        closed: bool = False,
    ) -> None:
        """Publish a ``<symbol>@kline_<interval>`` event for the bar opened at ``opened`` (ms)."""
        record = self.records["kline"]
        market_id = _market_id(symbol)
        o, h, low, c, v = ohlcv
        k = dict(
            record["k"],
            t=opened,
            T=opened + 59_999,
            s=market_id,
            i=interval,
            o=o,
            h=h,
            l=low,
            c=c,
            v=v,
            x=closed,
        )
        frame = dict(record, E=int(time.time() * 1000), s=market_id, k=k)
        await self._publish(f"{market_id.lower()}@kline_{interval}", frame)

    async def ticker(self, symbol: str, bid: str, ask: str, last: str) -> None:
        """Publish a ``<symbol>@ticker`` (24h rolling) event."""
        market_id = _market_id(symbol)
        now = int(time.time() * 1000)
        frame = dict(
            self.records["24hrTicker"],
            E=now,
            O=now - 86_400_000,
            C=now,
            s=market_id,
            b=bid,
            a=ask,
            c=last,
        )
        await self._publish(f"{market_id.lower()}@ticker", frame)

    async def send_raw(self, stream: str, text: str) -> None:
        """Fault: send ``text`` as is (e.g. not JSON) to ``stream``'s subscribers."""
        await self._on_server(self._send(stream, text))

    async def _publish(self, stream: str, frame: dict[str, Any]) -> None:
        await self._on_server(self._send(stream, json.dumps(frame)))

    async def _send(self, stream: str, text: str) -> None:
        if self._silent:
            return
        for ws in list(self._subscribers.get(stream, ())):
            if not ws.closed:
                await ws.send_str(text)

    # --- connection faults ---------------------------------------------------------------

    async def drop(self) -> None:
        """Fault: cut every WebSocket connection (clients should reconnect)."""
        await self._on_server(self._drop())

    async def _drop(self) -> None:
        for transport in list(self._sockets.values()):
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()  # as a network failure does: no closing handshake

    def silence(self, silent: bool = True) -> None:
        """Fault: stop answering on open connections (frames, pings and subscriptions)."""

        def apply() -> None:
            self._silent = silent
            for transport in self._sockets.values():
                if isinstance(transport, asyncio.ReadTransport):
                    (transport.pause_reading if silent else transport.resume_reading)()

        self._loop.call_soon_threadsafe(apply)


def _ws_error(request_id: Any, status: int, code: int, message: str) -> dict[str, Any]:
    return {"id": request_id, "status": status, "error": {"code": code, "msg": message}}


def _side(levels: dict[str, str], *, reverse: bool) -> list[list[str]]:
    ordered = sorted(levels.items(), key=lambda level: Decimal(level[0]), reverse=reverse)
    return [[price, amount] for price, amount in ordered]
