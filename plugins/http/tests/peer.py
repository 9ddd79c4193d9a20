"""A scripted HTTP/1.1 peer on loopback: answers from a script and records every request.

It stands in for a broker whose answers the reference server never gives (odd bodies,
redirects, a dropped connection), for a forward proxy (it gets the absolute URL in the
request line) and, given a certificate, for an HTTPS broker.
"""

from __future__ import annotations

import json
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Call:
    """One request as the peer received it."""

    method: str
    target: str  # the request line's target: a path, or an absolute URL through a proxy
    headers: dict[str, str]
    body: bytes


@dataclass
class _Answer:
    method: str
    target: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    close_after: bool = False  # answer, then close the connection without announcing it


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1  # one write per answer (flushed by the base class)
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the peer records every call instead

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        peer = self.server.peer
        answer = peer.record(Call(self.command, self.path, dict(self.headers.items()), body))
        if answer is None:
            answer = _Answer(self.command, self.path, 501, b'{"error": "nothing scripted"}')
        if answer.drop:
            self.close_connection = True
            return
        self.send_response(answer.status)
        for name, value in {"Content-Type": "application/json", **answer.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)
        if answer.close_after:  # like a broker whose keep-alive timeout ran out
            self.close_connection = True

    do_GET = do_POST = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, peer: ScriptedPeer) -> None:
        self.peer = peer
        super().__init__((HOST, 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve a host name: no lookups here.
        socketserver.TCPServer.server_bind(self)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.peer.count_connection()
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.peer.count_closed()


class ScriptedPeer:
    """``with ScriptedPeer() as peer:``; ``peer.add(...)`` scripts, ``peer.calls`` records.

    Each scripted answer is used once, for the first request with that method and
    target; ``repeat=True`` keeps it for every such request.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._lock = threading.Lock()
        self._script: list[tuple[_Answer, bool]] = []
        self.calls: list[Call] = []
        self.connections = 0
        self.closed = 0  # connections the peer has closed
        self._server = _Server(self)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        scheme = "https" if tls is not None else "http"
        self.base_url = f"{scheme}://{HOST}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> ScriptedPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def add(
        self,
        method: str,
        target: str,
        *,
        status: int = 200,
        json_body: Any = None,
        text: str = "",
        headers: dict[str, str] | None = None,
        drop: bool = False,
        close_after: bool = False,
        repeat: bool = False,
    ) -> None:
        body = json.dumps(json_body).encode() if json_body is not None else text.encode()
        answer = _Answer(method, target, status, body, dict(headers or {}), drop, close_after)
        with self._lock:
            self._script.append((answer, repeat))

    def record(self, call: Call) -> _Answer | None:
        """Log ``call`` and take the answer scripted for it, if any."""
        with self._lock:
            self.calls.append(call)
            for i, (answer, repeat) in enumerate(self._script):
                if (answer.method, answer.target) == (call.method, call.target):
                    if not repeat:
                        del self._script[i]
                    return answer
        return None

    def count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def count_closed(self) -> None:
        with self._lock:
            self.closed += 1
