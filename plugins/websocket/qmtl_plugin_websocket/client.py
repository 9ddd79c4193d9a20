"""WebSocketClient: one WebSocket connection with bearer auth and a heartbeat.

It is blocking and owned by one thread (the feed's reader thread). Only :meth:`abort`
may be called from another thread: it interrupts whatever the owner is blocked in
(TCP connect, TLS or HTTP handshake, receive), which is what lets ``stop()`` be prompt.
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

import websocket

from qmtl_core import runtime
from qmtl_core.errors import ConfigError, FeedAuthenticationError, FeedError
from qmtl_core.redaction import Secret, redact_url
from qmtl_plugin_websocket.framing import BINARY, CLOSE, PING, TEXT, FrameReader, ProtocolViolation

#: Bytes read from the socket at once; frames are then cut out of them in memory.
READ_CHUNK = 65536
AUTH_REFUSED = (401, 403)


def parse_url(url: str) -> SplitResult:
    """``url`` split, or ``ConfigError`` naming what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(
            f"expected a ws:// or wss:// URL with a host, got {redact_url(url)!r}", key="url"
        )
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ConfigError(f"invalid port in {redact_url(url)!r}: {exc}", key="url") from None
    return parts


def _reveal(value: object) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class WebSocketClient:
    """A blocking WebSocket connection: ``connect``, ``send``, ``receive``, ``close``.

    ``receive`` keeps the connection honest: after ``ping_interval`` quiet seconds it
    pings, and it raises :class:`FeedError` when a ping goes unanswered for another
    interval or no frame at all arrives for ``recv_timeout``. Settings left ``None``
    come from :mod:`qmtl_core.runtime` when they are needed.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | Secret | None = None,
        ping_interval: float | None = None,
        recv_timeout: float | None = None,
        connect_timeout: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
        before_wait: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self._parts = parse_url(url)
        self._token = Secret(token) if isinstance(token, str) else token
        self._ping_interval = ping_interval
        self._recv_timeout = recv_timeout
        self._connect_timeout = connect_timeout
        self._ssl_context = ssl_context
        self._before_wait = before_wait
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._ws: websocket.WebSocket | None = None
        self._frames = FrameReader()
        self._aborted = False
        self.pings_sent = 0
        #: new, connecting (TCP/TLS), handshaking (HTTP upgrade), open, closed
        self.phase = "new"

    def __repr__(self) -> str:
        return f"WebSocketClient({redact_url(self.url)!r}, phase={self.phase!r})"

    def connect(self) -> None:
        """Open the connection; ``FeedAuthenticationError`` on 401/403, else ``FeedError``."""
        timeout = (
            self._connect_timeout
            if self._connect_timeout is not None
            else runtime.HTTP_TIMEOUT_SECONDS
        )
        self.phase = "connecting"
        sock = self._dial(timeout)
        self.phase = "handshaking"
        # json.loads validates the text anyway: no UTF-8 check in pure Python first.
        ws = websocket.WebSocket(skip_utf8_validation=True)
        headers = {"Authorization": f"Bearer {self._token.reveal()}"} if self._token else {}
        where = redact_url(self.url)
        try:
            ws.connect(  # type: ignore[no-untyped-call]
                self.url,
                socket=sock,
                header=headers,
                timeout=timeout,
                redirect_limit=0,
                suppress_origin=True,
            )
        except websocket.WebSocketBadStatusException as exc:
            self._discard(sock)
            if exc.status_code in AUTH_REFUSED:
                raise FeedAuthenticationError(
                    f"{where}: handshake refused with HTTP {exc.status_code}; check the token"
                ) from None
            raise FeedError(f"{where}: handshake failed with HTTP {exc.status_code}") from None
        except (OSError, websocket.WebSocketException) as exc:
            self._discard(sock)
            raise FeedError(f"{where}: handshake failed: {exc or type(exc).__name__}") from exc
        ws.settimeout(self._tick())
        with self._lock:
            self._ws = ws
        self.phase = "open"
        if self._aborted:
            self.close()
            raise FeedError(f"{where}: aborted")

    def send(self, message: Mapping[str, Any] | str) -> None:
        """Send a text frame; a mapping is sent as JSON (``Secret`` values revealed here)."""
        text = message if isinstance(message, str) else json.dumps(message, default=_reveal)
        try:
            self._require().send(text)
        except (OSError, websocket.WebSocketException) as exc:
            raise FeedError(f"{redact_url(self.url)}: send failed: {exc}") from exc

    def receive(self) -> bytes:
        """The payload of the next text or binary message.

        Raises :class:`FeedError` when the peer closes, the connection breaks, the peer
        breaks the protocol, or it stays silent (see the class docstring). Time spent
        outside this call does not count against the peer. Pings are answered here.
        """
        frames = self._frames
        where = redact_url(self.url)
        quiet_since = time.monotonic()
        ping_sent: float | None = None
        while True:
            try:
                frame = frames.next()
            except ProtocolViolation as exc:
                raise FeedError(f"{where}: connection lost: protocol error: {exc}") from None
            if frame is None:
                if self._before_wait is not None:
                    self._before_wait()
                data = self._read()
                if data is None:
                    ping_sent = self._heartbeat(self._require(), quiet_since, ping_sent)
                else:
                    frames.feed(data)
                continue
            opcode, payload = frame
            if opcode == TEXT or opcode == BINARY:
                return payload
            if opcode == CLOSE:
                self._reply(CLOSE)
                raise FeedError(f"{where}: closed by the peer")
            if opcode == PING:
                self._reply(PING, payload)
            quiet_since, ping_sent = time.monotonic(), None  # a ping or a pong: alive

    def _read(self) -> bytes | None:
        """One socket read of up to ``READ_CHUNK`` bytes; None after a quiet tick."""
        sock = self._require().sock
        if sock is None:
            raise FeedError(f"{redact_url(self.url)}: not connected")
        try:
            data: bytes = sock.recv(READ_CHUNK)
        except TimeoutError:
            return None
        except OSError as exc:
            raise FeedError(f"{redact_url(self.url)}: connection lost: {exc}") from exc
        if not data:
            raise FeedError(f"{redact_url(self.url)}: connection lost: the peer closed it")
        return data

    def _reply(self, opcode: int, payload: bytes = b"") -> None:
        """Answer a ping with a pong, or a close with a close, as websocket-client would."""
        ws = self._require()
        try:
            if opcode == PING:
                ws.pong(payload)
            else:
                ws.send_close()
        except (OSError, websocket.WebSocketException) as exc:
            raise FeedError(f"{redact_url(self.url)}: connection lost: {exc}") from exc

    def abort(self) -> None:
        """Interrupt the owning thread and end the connection; safe from any thread."""
        with self._lock:
            self._aborted = True
            sock = self._ws.sock if self._ws is not None else self._sock
        if sock is not None:
            try:
                # The plain socket's shutdown, also for TLS: it wakes a blocked read or
                # connect without touching the TLS object the owner may be using.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        """Close politely (a close frame, no waiting for the reply) and free the socket."""
        self.phase = "closed"
        with self._lock:
            ws, self._ws = self._ws, None
            sock, self._sock = self._sock, None
        if ws is not None:
            if ws.connected and not self._aborted:
                try:
                    ws.send_close()
                except (OSError, websocket.WebSocketException):
                    pass
            ws.shutdown()  # type: ignore[no-untyped-call]
        elif sock is not None:
            sock.close()

    def __enter__(self) -> WebSocketClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require(self) -> websocket.WebSocket:
        ws = self._ws
        if ws is None:
            raise FeedError(f"{redact_url(self.url)}: not connected")
        return ws

    def _settings(self) -> tuple[float, float]:
        ping = self._ping_interval
        recv = self._recv_timeout
        return (
            ping if ping is not None else runtime.WS_PING_INTERVAL_SECONDS,
            recv if recv is not None else runtime.WS_RECV_TIMEOUT_SECONDS,
        )

    def _tick(self) -> float:
        """How long one socket read may block before the heartbeat is checked."""
        return max(0.005, min(1.0, min(self._settings()) / 4))

    def _heartbeat(
        self, ws: websocket.WebSocket, quiet_since: float, ping_sent: float | None
    ) -> float | None:
        """After a read timed out: ping, or give up on a silent peer. Returns the ping time."""
        ping_interval, recv_timeout = self._settings()
        now = time.monotonic()
        where = redact_url(self.url)
        if now - quiet_since >= recv_timeout:
            raise FeedError(f"{where}: no frame for {now - quiet_since:.2f}s, the peer is silent")
        if ping_sent is not None:
            if now - ping_sent >= ping_interval:
                raise FeedError(f"{where}: no pong within {ping_interval}s")
            return ping_sent
        if now - quiet_since < ping_interval:
            return None
        try:
            ws.ping()
        except (OSError, websocket.WebSocketException) as exc:
            raise FeedError(f"{where}: ping failed: {exc}") from exc
        self.pings_sent += 1
        return now

    def _dial(self, timeout: float) -> socket.socket:
        """A connected (and, for wss, TLS) socket that :meth:`abort` can interrupt."""
        host = self._parts.hostname or ""
        secure = self._parts.scheme == "wss"
        port = self._parts.port or (443 if secure else 80)
        where = redact_url(self.url)
        try:
            addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise FeedError(f"{where}: cannot resolve {host}: {exc}") from exc
        error: OSError | None = None
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                self._connect_tcp(sock, address, timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if not secure:
                    return sock
                context = self._ssl_context or ssl.create_default_context()
                tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
                sock = tls
                self._track(tls)
                tls.do_handshake()
                return tls
            except OSError as exc:
                self._discard(sock)
                error = exc
            if self._aborted:
                break
        raise FeedError(f"{where}: cannot connect: {error}") from error

    def _connect_tcp(self, sock: socket.socket, address: Any, timeout: float) -> None:
        """Connect without a window in which :meth:`abort` could be missed.

        A blocking ``connect`` cannot be checked for an abort between starting and
        blocking; starting it non-blocking, checking, then waiting can, and a shutdown
        wakes the wait.
        """
        self._track(sock)
        sock.setblocking(False)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            raise OSError(code, os.strerror(code))
        if self._aborted:
            raise OSError("aborted")
        if code:
            with selectors.DefaultSelector() as selector:
                selector.register(sock, selectors.EVENT_WRITE)
                if not selector.select(timeout):
                    raise TimeoutError(f"connect timed out after {timeout}s")
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
        sock.settimeout(timeout)

    def _track(self, sock: socket.socket) -> None:
        """Make ``sock`` reachable from :meth:`abort`, unless an abort already happened."""
        with self._lock:
            if self._aborted:
                raise OSError("aborted")
            self._sock = sock

    def _discard(self, sock: socket.socket) -> None:
        with self._lock:
            if self._sock is sock:
                self._sock = None
        sock.close()
