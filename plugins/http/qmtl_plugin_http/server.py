"""The reference broker server: the HTTP broker protocol on a paper engine, on loopback.

``with BrokerServer(prices={"BTC/USDT": 50000}) as server:`` serves on a free port of
127.0.0.1; ``server.url`` is the orders URL, ``server.faults`` injects misbehaviour,
``server.order_count`` is what tests count. Keep-alive, one thread per connection, and
``TCP_NODELAY`` with each answer written at once, so a loopback round trip is not
stretched by Nagle/delayed-ACK stalls.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import socketserver
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from qmtl_core.orders import OrderAck
from qmtl_core.rate_limits import Limit
from qmtl_core.redaction import Secret, reveal
from qmtl_core.testing.venue_limits import WindowLimiter
from qmtl_plugin_fake.paper import PaperEngine
from qmtl_plugin_http.broker import ADMIN_PREFIX, Answer, BrokerApp
from qmtl_plugin_http.faults import Fault, FaultPlan
from qmtl_plugin_http.protocol import DEFAULT_ORDERS_PATH, IDEMPOTENCY_HEADER

HOST = "127.0.0.1"
MAX_BODY_BYTES = 64 * 1024
_SEEN_LIMIT = 100_000
_MALFORMED = b'{"id": "P000001", "status": "fil'

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeenRequest:
    """One order request as it arrived (admin requests are not recorded)."""

    method: str
    path: str
    idempotency_key: str | None
    at: float  # time.monotonic() on arrival


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1  # buffer headers and body; the server flushes once per answer
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        body = self._body()
        if body is None:
            return
        broker = self.server.broker
        path = urlsplit(self.path).path
        key = self.headers.get(IDEMPOTENCY_HEADER)

        def handle() -> Answer:
            return broker.app.handle(
                self.command,
                path,
                body,
                idempotency_key=key,
                authorization=self.headers.get("Authorization"),
            )

        fault = None
        if not path.startswith(ADMIN_PREFIX):
            broker._record(SeenRequest(self.command, path, key, time.monotonic()))
            wait = broker.limiter.admit(broker.pools(self.command, path))
            if wait is not None:
                self._over_limit(wait)
                return
            fault = broker.faults.take(self.command)
        if fault is None:
            self._reply(handle())
        elif fault.kind == "stall":
            self._stall(fault, handle)
        else:
            self._misbehave(fault, handle() if fault.accept else None)

    def _over_limit(self, wait: float) -> None:
        """429 with ``Retry-After`` in whole seconds (rounded up), as HTTP defines it."""
        message = f"rate limit exceeded; retry in {wait:.3f}s"
        retry_after = str(max(1, math.ceil(wait)))
        self._reply(Answer(429, {"error": message}, {"Retry-After": retry_after}))

    def _stall(self, fault: Fault, handle: Callable[[], Answer]) -> None:
        """Answer late: act now (``accept``) or only after the delay, then answer and close."""
        answer = handle() if fault.accept else None
        self.server.stopping.wait(fault.seconds)
        answer = answer if answer is not None else handle()
        self.close_connection = True
        try:
            self._reply(answer)
            self.wfile.flush()
        except OSError:
            log.debug("reference broker: stalled client had gone")

    def _body(self) -> bytes | None:
        """The request body, or None after answering why it cannot be read."""
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding"):
                self._refuse(411, "send the body with a Content-Length")
                return None
            return b""
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self._refuse(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
            return None
        return self.rfile.read(int(length))

    def _refuse(self, status: int, message: str) -> None:
        self.close_connection = True  # the unread body would corrupt the next request
        self._reply(Answer(status, {"error": message}))

    def _reply(self, answer: Answer) -> None:
        self._write(answer.status, json.dumps(answer.body).encode(), answer.headers)

    def _write(self, status: int, payload: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _misbehave(self, fault: Fault, answer: Answer | None) -> None:
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._reply(Answer(fault.status, {"error": fault.message}, headers))
        elif fault.kind == "malformed":
            self._write(200, _MALFORMED, {})
        elif fault.kind == "bad_status":
            assert answer is not None  # Fault guarantees accept for bad_status
            body = {**answer.body, "status": fault.status_text}
            self._reply(Answer(answer.status, body, answer.headers))
        else:  # reset
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.server.reset_on_close(self.connection)


class _Server(ThreadingHTTPServer):
    """Tracks live connections so ``stop`` can end them, and resets on request."""

    daemon_threads = True

    def __init__(self, broker: BrokerServer, port: int) -> None:
        self.broker = broker
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._live: dict[socket.socket, threading.Thread] = {}
        self._resets: set[socket.socket] = set()
        super().__init__((HOST, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve a host name with getfqdn: no lookups here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, int(self.server_address[1])

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._live[request] = threading.current_thread()
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._live.pop(request, None)

    def reset_on_close(self, request: socket.socket) -> None:
        with self._lock:
            self._resets.add(request)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            reset = request in self._resets
            self._resets.discard(request)
        if reset:
            request.close()  # no FIN first: with SO_LINGER 0 the close sends a RST
        else:
            super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("reference broker: client %s went away: %s", client_address, error)
        else:
            log.exception("reference broker: error serving %s", client_address)

    def end_connections(self, timeout: float) -> None:
        """Wake every handler (stalls included) and wait for them to finish."""
        self.stopping.set()
        with self._lock:
            live = list(self._live.items())
        for request, _ in live:
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the peer
        deadline = time.monotonic() + timeout
        for _, thread in live:
            thread.join(max(0.0, deadline - time.monotonic()))


class BrokerServer:
    """A real HTTP broker for tests, demos and benchmarks; only ever on 127.0.0.1.

    ``port=0`` picks a free port. ``token`` makes order requests require
    ``Authorization: Bearer <token>``; the ``/admin/`` routes never do. ``rate_limits``
    (``{"orders": Limit(40, 1)}``) are enforced in fixed clock-aligned windows: a
    request over the limit gets 429 with ``Retry-After``.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        prices: Mapping[str, Any] | None = None,
        engine: PaperEngine | None = None,
        token: str | Secret | None = None,
        orders_path: str = DEFAULT_ORDERS_PATH,
        rate_limits: Mapping[str, Limit] | None = None,
    ) -> None:
        self.engine = engine if engine is not None else PaperEngine(prices, id_prefix="H")
        if engine is not None:
            for symbol, price in (prices or {}).items():
                engine.update_price(symbol, price)
        self.faults = FaultPlan()
        self.limiter = WindowLimiter(rate_limits or {})
        plain = reveal(token)
        self.app = BrokerApp(
            self.engine, self.faults, orders_path, None if plain is None else Secret(plain)
        )
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._seen: deque[SeenRequest] = deque(maxlen=_SEEN_LIMIT)
        self._seen_lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> BrokerServer:
        if self._httpd is not None:
            raise RuntimeError("the broker server is already running")
        self._httpd = _Server(self, self._port)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"qmtl-http-broker:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and end open connections, stalled answers included."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.end_connections(timeout)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> BrokerServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses -------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("start() the broker server first")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The orders URL to give a client, e.g. ``http://127.0.0.1:PORT/api/orders``."""
        return self.base_url + self.app.orders_path

    # --- the market and what the broker holds ----------------------------------------

    def set_price(self, symbol: str, price: Any) -> list[OrderAck]:
        """Move the market; returns the resting orders this price filled."""
        return self.engine.update_price(symbol, price)

    def orders(self) -> list[OrderAck]:
        return self.engine.orders()

    @property
    def order_count(self) -> int:
        """How many distinct orders the broker holds: the duplicate detector of the tests."""
        return len(self.engine.orders())

    def seen(self, method: str | None = None) -> list[SeenRequest]:
        """Order requests received so far (at most the last 100 000), oldest first."""
        with self._seen_lock:
            return [r for r in self._seen if method is None or r.method == method]

    def pools(self, method: str, path: str) -> dict[str, int]:
        """What an order request costs: 1 in ``requests``, and 1 in ``orders`` if placing."""
        placing = method == "POST" and path == self.app.orders_path
        return {"orders": 1, "requests": 1} if placing else {"requests": 1}

    def _record(self, request: SeenRequest) -> None:
        with self._seen_lock:
            self._seen.append(request)
