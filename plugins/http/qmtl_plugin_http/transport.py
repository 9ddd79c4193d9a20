"""The order path's transport: one request on a pooled keep-alive connection, no retries.

``requests`` decides everything about *where* and *how securely* to connect: the
environment (proxy variables and ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ``.netrc``) is
read by a ``requests.Session`` once per client, and requests' own ``HTTPAdapter``
builds the urllib3 connection pool (TLS verification and CA settings, proxy tunnels).
Per request, this module only writes the request in one ``sendall`` on a connection
from that pool (urllib3 replaces one the broker has closed) and reads the answer with
``http.client`` into an :class:`Answer`: requests' and urllib3's per-call machinery
(URL parsing, header merging, hooks, retry objects, response wrappers and their cookie
jars) cost more than the loopback round trip itself.

Failures are raised as the ``requests`` exceptions requests itself would raise, so
``wire.transport_error`` decides ambiguity for both: a connection that was never
established means nothing was sent; a timeout or reset after that is ambiguous.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple, cast
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.exceptions import InvalidHeader
from requests.utils import (
    check_header_validity,
    default_user_agent,
    get_auth_from_url,
    get_netrc_auth,
    select_proxy,
)
from urllib3 import HTTPConnectionPool
from urllib3.connection import HTTPConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProxyError,
)

from qmtl_plugin_http.protocol import order_path

#: Keep-alive connections kept per client; threads beyond this open short-lived ones.
POOL_SIZE = 16
#: Request bodies as ``json.dumps(payload, allow_nan=False)`` writes them, without
#: building an encoder per request.
_JSON = json.JSONEncoder(allow_nan=False)


class Answer(NamedTuple):
    """A broker's whole answer: what ``wire`` reads of it, and nothing to build per request."""

    status_code: int
    reason: str
    #: Case-insensitive ``get(name)`` (http.client's parsed headers); a header sent
    #: twice gives its first value.
    headers: http.client.HTTPMessage
    content: bytes


def _basic(user: str, password: str) -> str:
    """An ``Authorization`` value for HTTP basic auth, as requests would send it."""
    request = requests.Request("GET", "http://x/", auth=(user, password)).prepare()
    return str(request.headers["Authorization"])


class Transport:
    """Sends one built request at a time for one orders URL; safe to share between threads.

    ``build`` turns a request into bytes (anything wrong with it raises ``ValueError``
    or ``TypeError`` there, before a connection is touched); ``send`` writes them and
    returns the :class:`Answer`, or raises a ``requests.RequestException``.
    """

    def __init__(self, url: str) -> None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        env = session.merge_environment_settings(url, {}, None, None, None)
        self._session, self._adapter = session, adapter
        verify = env["verify"]  # True, False or a CA bundle path (REQUESTS_CA_BUNDLE)
        self._verify: bool | str = True if verify is None else verify
        self._proxies: dict[str, str] = dict(env["proxies"])
        self._probe = requests.Request("GET", url).prepare()  # requests' normalised URL
        parts = urlsplit(str(self._probe.url))
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])  # no user info
        #: The orders URL as sent (normalised, without user info).
        self.url = parts.geturl()
        proxy = select_proxy(self.url, self._proxies)
        # A proxy forwards plain-HTTP requests (absolute URL in the request line) and
        # tunnels HTTPS ones (CONNECT, set up by urllib3 when a connection opens).
        self._forwarded = proxy is not None and parts.scheme == "http"
        self._tunnelled = proxy is not None and parts.scheme == "https"
        self._base_target = self.url if self._forwarded else (parts.path or "/")
        fixed = {
            "Host": parts.netloc,
            "User-Agent": default_user_agent(),
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "Connection": "keep-alive",
        }
        if self._forwarded and proxy is not None:
            fixed.update(adapter.proxy_headers(proxy))
        self._fixed = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        netrc = get_netrc_auth(url)
        user, password = get_auth_from_url(url)
        self._basic_auth = (
            _basic(*netrc) if netrc else _basic(user, password) if user or password else None
        )
        self._lock = threading.Lock()
        self._pool: HTTPConnectionPool | None = None

    def close(self) -> None:
        """Close the pooled connections; a later request opens new ones."""
        with self._lock:
            self._pool = None
            self._session.close()

    def target(self, ref: str | None) -> str:
        """The request target for the orders URL, or for order ``ref`` below it."""
        return self._base_target if ref is None else order_path(self._base_target, ref)

    def build(
        self,
        method: str,
        target: str,
        payload: dict[str, Any] | None,
        headers: Mapping[str, str],
    ) -> bytes:
        """The request as it goes on the wire; ``ValueError``/``TypeError`` if it cannot be."""
        lines = [f"{method} {target} HTTP/1.1\r\n", self._fixed]
        body = b""
        if payload is not None:
            body = _JSON.encode(payload).encode("utf-8")
            lines.append("Content-Type: application/json\r\n")
        if payload is not None or method != "GET":
            lines.append(f"Content-Length: {len(body)}\r\n")
        if "Authorization" not in headers and self._basic_auth is not None:
            lines.append(f"Authorization: {self._basic_auth}\r\n")
        for name, value in headers.items():
            try:
                check_header_validity((name, value))
            except InvalidHeader:
                # The value may be a credential: name the header, never show its value.
                raise ValueError(
                    f"header {name!r} has a line break, leading whitespace or a reserved "
                    "character (value not shown)"
                ) from None
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1") + body

    def send(self, method: str, request: bytes, timeout: float) -> Answer:
        """Write ``request`` on a pooled connection and read the whole answer."""
        pool = self._pool or self._new_pool()
        try:
            conn = cast(HTTPConnection, pool._get_conn())
        except HTTPError as exc:  # closed by close() meanwhile
            raise requests.ConnectionError(exc) from exc
        try:
            conn.timeout = timeout
            if conn.sock is None:
                self._connect(pool, conn)
            sock = conn.sock
            assert sock is not None  # connected just above
            if sock.gettimeout() != timeout:  # settimeout costs a system call each time
                sock.settimeout(timeout)
            sock.sendall(request)
            answer = http.client.HTTPResponse(sock, method=method)
            answer.begin()
            body = answer.read()
        except TimeoutError as exc:
            self._discard(pool, conn)
            raise requests.ReadTimeout(exc) from exc
        except (OSError, http.client.HTTPException, HTTPError) as exc:
            self._discard(pool, conn)
            if isinstance(exc, requests.RequestException):
                raise
            raise requests.ConnectionError(exc) from exc
        except BaseException:
            self._discard(pool, conn)
            raise
        if answer.will_close:
            conn.close()
        pool._put_conn(conn)
        return Answer(answer.status, answer.reason, answer.msg, body)

    def _new_pool(self) -> HTTPConnectionPool:
        with self._lock:
            if self._pool is None:
                pool = self._adapter.get_connection_with_tls_context(
                    self._probe, self._verify, self._proxies, None
                )
                self._pool = cast(HTTPConnectionPool, pool)
            return self._pool

    def _connect(self, pool: HTTPConnectionPool, conn: HTTPConnection) -> None:
        """Open ``conn`` as urllib3 would (TLS, proxy tunnel); errors as requests raises them."""
        try:
            if self._tunnelled:
                pool._prepare_proxy(conn)
            if conn.sock is None:
                conn.connect()
            pool._validate_conn(conn)  # HTTPS: warns about an unverified connection
        except (OSError, http.client.HTTPException, HTTPError, ssl.SSLError) as exc:
            why = MaxRetryError(pool, self.url, exc)
            if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):
                raise requests.ConnectTimeout(why) from exc
            if self._tunnelled and not conn.has_connected_to_proxy:
                raise requests.exceptions.ProxyError(
                    MaxRetryError(pool, self.url, ProxyError("Unable to connect to proxy", exc))
                ) from exc
            if isinstance(exc, ssl.SSLError | ssl.CertificateError):
                raise requests.exceptions.SSLError(why) from exc
            raise requests.ConnectionError(why) from exc

    @staticmethod
    def _discard(pool: HTTPConnectionPool, conn: HTTPConnection) -> None:
        """A connection in an unknown state is closed; its slot goes back to the pool."""
        conn.close()
        pool._put_conn(conn)
