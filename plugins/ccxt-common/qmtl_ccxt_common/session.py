"""The ``requests`` session behind a synchronous ccxt exchange: ccxt's requests prepared directly.

ccxt hands ``Session.request`` a finished request: the URL already encoded and signed,
the body already bytes, no params, cookies, files or auth, and a session that trusts
no environment (ccxt sets ``trust_env`` from its own ``requests_trust_env``, off by
default). requests still runs its general preparation on it: a ``Request`` object,
cookie jars merged into new jars, every setting merged through typing-protocol
``isinstance`` checks. On the order path that costs about a fifth of ccxt's whole
call, on every call.

:class:`CcxtSession` prepares such a request in the few steps it needs (requests' own
``prepare_headers`` and ``prepare_body``, so headers are checked exactly as requests
checks them; the URL as is when it is one requests' ``prepare_url`` would return
unchanged, else through ``prepare_url``) and hands it to requests' own
``Session.send``: the adapter, its connection pool, TLS verification and CA settings,
proxies, timeouts, hooks, cookies and redirects are requests' code, untouched. Any
request beyond that shape (params, cookies, files, auth, hooks, JSON, a session that
reads the environment or carries auth, params, a client certificate or cookies) goes
through ``requests.Session.request`` unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import requests
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict

#: Keyword arguments of ``Session.request`` the direct path handles itself (``files``
#: only as ccxt passes it when there are none: ``None``).
_DIRECT = frozenset({"data", "headers", "timeout", "allow_redirects", "proxies", "verify", "files"})


class CcxtSession(requests.Session):
    """A ``requests.Session`` that prepares ccxt-shaped requests without requests'
    general machinery; everything else is a plain ``requests.Session``."""

    def request(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """``requests.Session.request``: the same request sent, the same response returned."""
        if not (isinstance(method, str) and isinstance(url, str) and self._direct(url, kwargs)):
            return super().request(method, url, **kwargs)
        prepared = PreparedRequest()
        prepared.method = method.upper()
        if _is_plain(url):
            prepared.url = url  # what prepare_url would make of it, character for character
        else:
            prepared.prepare_url(url, None)
        prepared.prepare_headers(_merged(self.headers, kwargs.get("headers")))
        prepared._cookies = requests.cookies.RequestsCookieJar()  # type: ignore[attr-defined]
        prepared.prepare_body(kwargs.get("data") or {}, None)
        verify = kwargs.get("verify")
        return self.send(
            prepared,
            timeout=kwargs.get("timeout"),
            allow_redirects=kwargs.get("allow_redirects", True),
            proxies=_merged_proxies(kwargs.get("proxies"), self.proxies),
            stream=self.stream,
            verify=self.verify if verify is None else verify,
            cert=None,
        )

    def _direct(self, url: str, kwargs: dict[str, Any]) -> bool:
        """True when nothing but a finished request is asked: no credentials in the
        URL, no environment to read, no session-wide auth, params, certificate, cookies
        or hooks, no other arguments."""
        return (
            "@" not in url
            and _DIRECT.issuperset(kwargs)
            and kwargs.get("files") is None
            and not self.trust_env
            and self.auth is None
            and not self.params
            and self.cert is None
            and not self.stream
            and not self.cookies
            and not any(self.hooks.values())
        )


#: A URL requests' ``prepare_url`` returns unchanged: http(s), a lowercase host name, a
#: port without a leading zero, a path and an optional non-empty query of characters
#: requests neither quotes nor unquotes (no ``%``, no fragment, no ``;``), as ccxt builds
#: them for every REST venue. Anything else is prepared by requests.
_PLAIN_URL = re.compile(
    r"https?://[a-z0-9][a-z0-9.-]*(?::(?P<port>[1-9][0-9]{0,4}))?"
    r"(?P<path>/[A-Za-z0-9._~!$&'()*+,=:@/-]*)(?:\?[A-Za-z0-9._~!$&'()*+,=:@/?-]+)?"
)


def _is_plain(url: str) -> bool:
    """True when ``url`` is a :data:`_PLAIN_URL` with a valid port and no dot segment in
    its path (urllib3 would resolve ``/./`` and ``/../``)."""
    match = _PLAIN_URL.fullmatch(url)
    if match is None or "/." in match["path"]:
        return False
    port = match["port"]
    return port is None or int(port) <= 65535


def _merged(session_headers: Any, request_headers: Any) -> CaseInsensitiveDict[str | bytes]:
    """The session's headers updated by the request's, a ``None`` value removing one
    (requests' ``merge_setting`` for headers)."""
    merged: CaseInsensitiveDict[str | bytes] = CaseInsensitiveDict(session_headers)
    merged.update(request_headers or {})
    for name in [name for name, value in merged.items() if value is None]:
        del merged[name]
    return merged


def _merged_proxies(
    request_proxies: Mapping[str, str] | None, session_proxies: Mapping[str, str]
) -> dict[str, str]:
    """The session's proxies updated by the request's, ``None`` removing one."""
    merged = {**session_proxies, **(request_proxies or {})}
    return {scheme: proxy for scheme, proxy in merged.items() if proxy is not None}


def install(exchange: Any) -> None:
    """Give a synchronous ccxt ``exchange`` built here a :class:`CcxtSession` in place of
    the plain session ccxt made, with the one setting ccxt gave it (``trust_env``)."""
    plain: requests.Session = exchange.session
    session = CcxtSession()
    session.trust_env = plain.trust_env
    plain.close()
    exchange.session = session
