"""A local WebSocket gateway on 127.0.0.1 for tests, the demo and the benchmark.

It requires the bearer token, pushes gateway-style events, records and echoes what
clients send, and injects the faults a live feed must survive: dropped connections, a
silent peer that keeps TCP open, refused or stalled handshakes, garbage frames, and a
producer that outruns any consumer. Its asyncio loop runs on a background thread and
every method is thread-safe and non-blocking, so synchronous code (the demo, the
benchmark) and async code (tests, strategies) drive it the same way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import json
import logging
import os
import random
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from qmtl_core.redaction import REDACTED, is_secret_key

LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 5.0
#: Frames written per transport write by :meth:`Gateway.stream`.
STREAM_CHUNK = 512

log = logging.getLogger(__name__)


class _RedactingLog(logging.LoggerAdapter[logging.Logger]):
    """websockets logs every request header at DEBUG ("< %s: %s"); mask credentials."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if len(args) == 2 and isinstance(args[0], str) and is_secret_key(args[0]):
            args = (args[0], REDACTED)
        super().log(level, msg, *args, **kwargs)


def encode_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One final, unmasked frame as a server sends it (RFC 6455 section 5.2)."""
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, length))
    elif length < 1 << 16:
        header = bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")
    return header + payload


def price_frames(first: int, last: int, symbol: str, pad: int = 0) -> bytes:
    """Text frames of price events ``seq`` = first .. last-1, ready for the wire."""
    name = json.dumps(symbol).encode()
    filler = b',"pad":"' + b"x" * pad + b'"' if pad else b""
    return b"".join(
        encode_frame(
            b'{"event":"price","symbol":%s,"seq":%d,"price":"%d.00"%s}'
            % (name, seq, 50000 + seq % 100, filler)
        )
        for seq in range(first, last)
    )


@dataclass(frozen=True)
class _Frame:
    data: str | bytes
    text: bool


@dataclass(frozen=True)
class _Stream:
    start: int
    count: int
    symbol: str
    pad: int


@dataclass(eq=False)
class _Barrier:
    """Queued behind published frames: ``done`` resolves once every writer passed it."""

    pending: int
    done: concurrent.futures.Future[None]

    def passed(self) -> None:
        self.pending -= 1
        if self.pending <= 0 and not self.done.done():
            self.done.set_result(None)


_Item = _Frame | _Stream | _Barrier


@dataclass(eq=False)
class _Peer:
    connection: ServerConnection
    outbox: asyncio.Queue[_Item] = field(default_factory=asyncio.Queue)
    silenced: bool = False


class Gateway:
    """``with Gateway(token="t") as gw:`` (or ``async with``) serves on ``gw.url``.

    After a client connects, :meth:`wait_for_connections`; then push with
    :meth:`broadcast`, :meth:`publish` (awaits TCP), :meth:`push_price`, :meth:`stream`
    and :meth:`send_raw`;
    inject faults with :meth:`drop_connections`, :meth:`silence`,
    :meth:`refuse_handshakes` and :meth:`stall_handshakes`; read the counters
    ``connections``, ``open_connections``, ``pending_handshakes``, ``messages_sent``,
    ``write_backlog``, ``refused`` and ``received`` (what clients sent, as JSON if it parses).
    """

    def __init__(
        self, token: str, *, host: str = LOOPBACK, port: int = 0, path: str = "/ws"
    ) -> None:
        self._token = token
        self.host = host
        self.port = port
        self.path = path
        self.connections = 0
        self.messages_sent = 0
        self.refused = 0
        self.received: list[Any] = []
        self._peers: set[_Peer] = set()
        self._peers_changed = threading.Condition()
        self._handshaking: set[ServerConnection] = set()
        self._refuse_status: int | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._stop = asyncio.Event()
        self._gate = asyncio.Event()  # set: handshakes proceed; clear: they stall
        self._gate.set()

    def __repr__(self) -> str:
        return f"Gateway({self.url!r}, open_connections={self.open_connections})"

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}{self.path}"

    @property
    def open_connections(self) -> int:
        return len(self._peers)

    def wait_for_connections(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until at least ``count`` connections are open.

        A client's handshake completes a moment before the gateway registers the
        connection, so call this before pushing to a client that just connected.
        """
        with self._peers_changed:
            if not self._peers_changed.wait_for(lambda: len(self._peers) >= count, timeout):
                raise TimeoutError(f"{len(self._peers)} of {count} connections after {timeout}s")

    @property
    def write_backlog(self) -> int:
        """Bytes the gateway could not hand to the kernel yet: above zero, the socket
        buffers are full and TCP is pushing back on the producer."""
        return sum(p.connection.transport.get_write_buffer_size() for p in list(self._peers))

    @property
    def pending_handshakes(self) -> int:
        """Connections whose opening handshake is waiting (see :meth:`stall_handshakes`)."""
        return len(self._handshaking)

    @property
    def subscriptions(self) -> list[dict[str, Any]]:
        """Client messages with ``"op": "subscribe"``, in arrival order."""
        return [m for m in self.received if isinstance(m, dict) and m.get("op") == "subscribe"]

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> Gateway:
        """Start serving (from synchronous code); returns once the port is bound."""
        self._launch()
        self._ready.result(timeout=START_TIMEOUT_SECONDS)
        return self

    async def astart(self) -> Gateway:
        """Start serving without blocking the caller's event loop."""
        self._launch()
        await asyncio.wait_for(asyncio.wrap_future(self._ready), START_TIMEOUT_SECONDS)
        return self

    def stop(self) -> None:
        """Abort every connection and stop; the background thread is gone on return."""
        if self._signal_stop():
            self._done.result(timeout=START_TIMEOUT_SECONDS)
            self._join()

    async def astop(self) -> None:
        if self._signal_stop():
            await asyncio.wait_for(asyncio.wrap_future(self._done), START_TIMEOUT_SECONDS)
            self._join()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Gateway:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        await self.astop()

    # --- pushing ------------------------------------------------------------------------

    def broadcast(self, *events: dict[str, Any] | str) -> None:
        """Send each event (a mapping as JSON, text as is) to every open connection."""
        frames = [_Frame(e if isinstance(e, str) else json.dumps(e), True) for e in events]
        self._post(self._enqueue, frames)

    async def publish(self, *events: dict[str, Any] | str) -> None:
        """:meth:`broadcast`, returning once every open connection's socket took the events.

        A producer that awaits this is held back by a client that does not read, as a
        real gateway's would be; call it from any event loop but the gateway's own.
        """
        frames = [_Frame(e if isinstance(e, str) else json.dumps(e), True) for e in events]
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._post(self._enqueue_until_sent, frames, done)
        await asyncio.wrap_future(done)

    def push_price(self, symbol: str, price: Decimal | float | str, **extra: Any) -> None:
        """Broadcast ``{"event": "price", "symbol": ..., "price": "<text>", ...}``."""
        self.broadcast({"event": "price", "symbol": symbol, "price": str(price), **extra})

    def send_raw(self, *frames: str | bytes, text: bool = True) -> None:
        """Send frames unchecked (garbage injection): bytes go out as they are."""
        self._post(self._enqueue, [_Frame(f, text) for f in frames])

    def stream(self, count: int, *, start: int = 0, symbol: str = "BTC/USDT", pad: int = 0) -> None:
        """Fast producer: ``count`` price events numbered by ``seq`` from ``start``,
        pre-encoded and written as fast as TCP accepts them (``pad`` adds bytes)."""
        self._post(self._enqueue, [_Stream(start, count, symbol, pad)])

    # --- faults -------------------------------------------------------------------------

    def drop_connections(self) -> None:
        """Abort every open connection at the TCP level: no close frame, mid-stream."""
        self._post(self._drop)

    def silence(self) -> None:
        """Open connections stop reading (so pings go unanswered) and sending; TCP stays up."""
        self._post(self._silence)

    def refuse_handshakes(self, status: int = HTTPStatus.UNAUTHORIZED) -> None:
        """Answer new handshakes with ``status`` whatever the token."""
        self._refuse_status = int(status)

    def stall_handshakes(self) -> None:
        """Accept TCP connections but leave their handshakes unanswered."""
        self._post(self._gate.clear)

    def accept_handshakes(self) -> None:
        """Undo :meth:`refuse_handshakes` and :meth:`stall_handshakes`."""
        self._refuse_status = None
        self._post(self._gate.set)

    # --- inside the gateway's loop ------------------------------------------------------

    def _launch(self) -> None:
        if self._thread is not None:
            raise RuntimeError("this gateway was already started")
        self._thread = threading.Thread(target=self._run, name="qmtl-ws-gateway", daemon=True)
        self._thread.start()

    def _signal_stop(self) -> bool:
        if self._thread is None or self._done.done():
            return False
        self._post(self._stop.set)
        return True

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT_SECONDS)

    def _post(self, callback: Callable[..., object], *args: Any) -> None:
        loop = self._loop
        if loop is None or self._done.done():
            raise RuntimeError("the gateway is not running: call start() first")
        loop.call_soon_threadsafe(callback, *args)

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            else:
                log.exception("gateway failed")
        finally:
            loop.close()
            self._done.set_result(None)

    async def _main(self) -> None:
        async with serve(
            self._serve,
            self.host,
            self.port,
            process_request=self._check,
            compression=None,
            ping_interval=None,  # clients ping; a server ping would hide a silent peer
            open_timeout=None,  # stall_handshakes() means stalled until told otherwise
            close_timeout=1,
            logger=_RedactingLog(log),
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set_result(None)
            await self._stop.wait()
            self._closing = True
            self._gate.set()
            for connection in [p.connection for p in self._peers] + list(self._handshaking):
                connection.transport.abort()
            peers = [p.connection.wait_closed() for p in self._peers]
            if peers:
                await asyncio.wait_for(asyncio.gather(*peers), START_TIMEOUT_SECONDS)

    async def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self._handshaking.add(connection)
        try:
            await self._gate.wait()
            if self._closing:
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "shutting down\n")
            status = self._refuse_status
            given = request.headers.get("Authorization", "")
            if status is None and not hmac.compare_digest(given, f"Bearer {self._token}"):
                status = HTTPStatus.UNAUTHORIZED
            if status is not None:
                self.refused += 1
                return connection.respond(status, "handshake refused\n")
            return None
        finally:
            self._handshaking.discard(connection)

    async def _serve(self, connection: ServerConnection) -> None:
        peer = _Peer(connection)
        with self._peers_changed:
            self._peers.add(peer)
            self.connections += 1
            self._peers_changed.notify_all()
        writer = asyncio.create_task(self._write(peer))
        try:
            async for message in connection:
                self._on_client_message(peer, message)
        except ConnectionClosed:
            pass
        finally:
            with self._peers_changed:
                self._peers.discard(peer)
                self._peers_changed.notify_all()
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            while not peer.outbox.empty():  # release publishers waiting on this connection
                item = peer.outbox.get_nowait()
                if isinstance(item, _Barrier):
                    item.passed()

    def _on_client_message(self, peer: _Peer, message: str | bytes) -> None:
        try:
            parsed: Any = json.loads(message)
        except ValueError:
            parsed = message
        self.received.append(parsed)
        if isinstance(parsed, dict) and parsed.get("op") == "subscribe":
            echo = {"event": "subscribed", **{k: v for k, v in parsed.items() if k != "op"}}
            peer.outbox.put_nowait(_Frame(json.dumps(echo), True))

    def _enqueue(self, items: list[_Frame] | list[_Stream]) -> None:
        for peer in self._peers:
            for item in items:
                peer.outbox.put_nowait(item)

    def _enqueue_until_sent(
        self, frames: list[_Frame], done: concurrent.futures.Future[None]
    ) -> None:
        barrier = _Barrier(len(self._peers), done)
        self._enqueue(frames)
        for peer in self._peers:
            peer.outbox.put_nowait(barrier)
        if not self._peers:
            barrier.passed()

    async def _write(self, peer: _Peer) -> None:
        try:
            while True:
                item = await peer.outbox.get()
                if isinstance(item, _Barrier):
                    item.passed()
                    continue
                if peer.silenced:
                    continue
                if isinstance(item, _Stream):
                    await self._write_stream(peer, item)
                else:
                    await peer.connection.send(item.data, text=item.text)
                    self.messages_sent += 1
        except (ConnectionClosed, OSError):
            pass

    async def _write_stream(self, peer: _Peer, stream: _Stream) -> None:
        connection = peer.connection
        end = stream.start + stream.count
        for first in range(stream.start, end, STREAM_CHUNK):
            if peer.silenced or connection.state is not State.OPEN:
                return
            last = min(first + STREAM_CHUNK, end)
            connection.transport.write(price_frames(first, last, stream.symbol, stream.pad))
            self.messages_sent += last - first
            await connection.drain()  # waits while the client is not reading: back-pressure

    def _drop(self) -> None:
        for peer in self._peers:
            peer.connection.transport.abort()

    def _silence(self) -> None:
        for peer in self._peers:
            peer.silenced = True
            peer.connection.transport.pause_reading()


def serve_forever(*, port: int = 0, token: str | None = None, interval: float = 1.0) -> int:
    """``qmtl-connectors serve-gateway``: serve and tick BTC/USDT until interrupted.

    The clients' token is ``token``, else ``$QMTL_WS_TOKEN``, else a new random one,
    printed so that a feed can be pointed at it.
    """
    generated = not (token or os.environ.get("QMTL_WS_TOKEN"))
    token = token or os.environ.get("QMTL_WS_TOKEN") or secrets.token_urlsafe(16)
    price = Decimal(50000)
    stopped = threading.Event()
    with Gateway(token, port=port) as gateway:
        print(f"gateway listening on {gateway.url}", flush=True)
        if generated:
            print(
                f"token (generated): {token}  - give it to the feed as QMTL_WS_TOKEN={token}",
                flush=True,
            )
        try:
            while not stopped.wait(interval if interval > 0 else None):
                price += random.randint(-50, 50)
                gateway.push_price("BTC/USDT", price)
        except KeyboardInterrupt:
            pass
    return 0
