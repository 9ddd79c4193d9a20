"""A recorded venue served on 127.0.0.1, for ``ccxt.async_support`` exchanges.

The recordings answer through ``responses``, which only sees ``requests``; the async
exchange speaks aiohttp. :class:`LoopbackVenue` is a real HTTP server on a free
loopback port that hands each request, under its original Binance URL, to the same
recording (through ``requests``, which ``responses`` answers) and writes the answer
back; :meth:`LoopbackVenue.route` points an exchange's URLs at it, keeping the
original host in the path, so the recording still sees which host (live, testnet,
demo) the exchange chose. A transport fault of the recording (timeout, disconnect)
closes the connection without an answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from qmtl_ccxt_common.recorded import BinanceReplay

#: Request headers not passed on (the proxy's own connection handling).
_HOP_HEADERS = frozenset({"host", "content-length", "connection", "accept-encoding"})


class LoopbackVenue:
    """``replay`` on ``http://127.0.0.1:<port>/<original host>/<path>``."""

    def __init__(self, replay: BinanceReplay) -> None:
        self.replay = replay
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="qmtl-loopback-venue", daemon=True
        )
        self._thread.start()

    def route(self, exchange: Any) -> None:
        """Point every URL of ``exchange`` on the recording's hosts at this server."""
        exchange.urls = self._rewrite(exchange.urls)

    def _rewrite(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._rewrite(v) for v in value]
        if isinstance(value, str):
            for host in self.replay.hosts:
                value = value.replace(f"https://{host}", f"http://127.0.0.1:{self.port}/{host}")
        return value

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the recording keeps its own log of requests."""

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                url = f"https:/{self.path}"  # "/<host>/<path>" -> "https://<host>/<path>"
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                try:
                    with requests.Session() as session:
                        answer = session.request(
                            self.command, url, headers=headers, data=body, timeout=10
                        )
                except requests.RequestException:
                    self.close_connection = True  # the recording's transport fault
                    return
                payload = answer.content
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = _relay

        return Handler


@contextmanager
def loopback(replay: BinanceReplay) -> Iterator[LoopbackVenue]:
    """``with loopback(replay) as served: served.route(async_exchange)``."""
    served = LoopbackVenue(replay)
    try:
        yield served
    finally:
        served.close()
