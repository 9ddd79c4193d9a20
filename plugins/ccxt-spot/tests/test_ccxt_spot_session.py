"""CcxtSession sends exactly what a plain requests session sends, and returns the same.

Each case is made through a plain ``requests.Session`` (``trust_env`` off, as ccxt
makes it) and through a :class:`CcxtSession`, both with a recording adapter mounted:
the prepared request (method, URL, headers, body) and everything the adapter is told
(timeout, TLS verification, proxies, client certificate) must be equal, redirects and
cookies included. Then: clients built from a config get the session, a ready exchange
keeps its own, and ccxt's ``requests_trust_env`` is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ccxt
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from requests.adapters import BaseAdapter
from requests.models import PreparedRequest

from qmtl_ccxt_common.session import CcxtSession
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient

URL = "https://testnet.binance.vision/api/v3/order?symbol=BTCUSDT&signature=abc%2Fdef"


class RecordingAdapter(BaseAdapter):
    """Answers every request with ``answer(request)`` and records what it was given."""

    def __init__(self, answer: Callable[[PreparedRequest], tuple[int, dict[str, str]]]) -> None:
        super().__init__()
        self.answer = answer
        self.seen: list[tuple[Any, ...]] = []

    def send(self, request: PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.seen.append(
            (
                request.method,
                request.url,
                dict(request.headers),
                request.body,
                tuple(sorted(kwargs.items(), key=lambda item: item[0])),
            )
        )
        status, headers = self.answer(request)
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        response.url = str(request.url)
        response.request = request
        response._content = b'{"ok": true}'
        response.raw = _RawWithCookies(headers)
        return response

    def close(self) -> None:
        pass


class _RawWithCookies:
    """Enough of urllib3's response for requests' cookie extraction."""

    def __init__(self, headers: dict[str, str]) -> None:
        cookie = headers.get("Set-Cookie")
        self._original_response = _Original([cookie] if cookie else [])


class _Original:
    def __init__(self, cookies: list[str]) -> None:
        self.msg = _Message(cookies)


class _Message:
    def __init__(self, cookies: list[str]) -> None:
        self._cookies = cookies

    def get_all(self, name: str, default: Any = None) -> list[str]:
        return self._cookies if name.lower() == "set-cookie" else (default or [])


def _ok(request: PreparedRequest) -> tuple[int, dict[str, str]]:
    return 200, {"Content-Type": "application/json"}


def _sessions(
    answer: Callable[[PreparedRequest], tuple[int, dict[str, str]]] = _ok,
) -> list[tuple[requests.Session, RecordingAdapter]]:
    made: list[tuple[requests.Session, RecordingAdapter]] = []
    for session in (requests.Session(), CcxtSession()):
        session.trust_env = False  # as ccxt makes its session (requests_trust_env off)
        adapter = RecordingAdapter(answer)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        made.append((session, adapter))
    return made


CASES: list[dict[str, Any]] = [
    # what ccxt's fetch passes for a signed POST, a GET and a DELETE
    {
        "method": "POST",
        "data": b"symbol=BTCUSDT&side=BUY&quantity=0.001",
        "headers": {"X-MBX-APIKEY": "k", "Content-Type": "application/x-www-form-urlencoded"},
        "timeout": 10.0,
        "proxies": None,
        "verify": True,
        "files": None,
    },
    {"method": "get", "data": None, "headers": {}, "timeout": 3.5, "proxies": None},
    {"method": "DELETE", "data": None, "headers": {"Accept": None}, "verify": False},
    # ccxt's own proxies (httpsProxy, exchange.proxies) and a CA bundle path
    {
        "method": "GET",
        "data": None,
        "headers": {"User-Agent": "ccxt"},
        "proxies": {"https": "http://127.0.0.1:3128", "http": None},
        "verify": "/etc/ssl/certs/ca-certificates.crt",
        "timeout": (1.0, 2.0),
    },
    {"method": "PUT", "data": b"{}", "headers": {"Content-Type": "application/json"}},
    {"method": "POST", "data": b"", "headers": None, "allow_redirects": False},
    # beyond ccxt's shape: requests' own path, still the same request
    {"method": "GET", "params": {"a": "1"}, "cookies": {"c": "2"}, "auth": ("u", "p")},
    {"method": "POST", "json": {"x": 1}},
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: str(sorted(case)))
def test_same_request_and_settings_as_a_plain_session(case: dict[str, Any]) -> None:
    seen = []
    for session, adapter in _sessions():
        session.headers["X-Session"] = "s"
        session.proxies["http"] = "http://127.0.0.1:8080"
        response = session.request(
            case["method"], URL, **{k: v for k, v in case.items() if k != "method"}
        )
        assert response.status_code == 200 and response.json() == {"ok": True}
        seen.append(adapter.seen)
    plain, direct = seen
    assert direct == plain and len(direct) == 1


def test_session_settings_are_used() -> None:
    """verify and a client certificate set on the session, stream: as requests does."""
    seen = []
    for session, adapter in _sessions():
        session.verify = "/tmp/bundle.pem"
        session.cert = "/tmp/client.pem"
        session.request("GET", URL, timeout=1.0, proxies=None, verify=None, files=None)
        session.cert = None
        session.stream = True
        session.request("GET", URL, timeout=1.0, verify=None)
        seen.append(adapter.seen)
    assert seen[1] == seen[0] and len(seen[0]) == 2


def test_redirects_and_cookies_as_requests_handles_them() -> None:
    def redirect_once(request: PreparedRequest) -> tuple[int, dict[str, str]]:
        if "moved" in str(request.url):
            return 200, {"Set-Cookie": "after=2; Path=/"}
        return 302, {"Location": "https://testnet.binance.vision/moved", "Set-Cookie": "a=1"}

    outcomes = []
    for session, adapter in _sessions(redirect_once):
        response = session.request("GET", URL, timeout=1.0, proxies=None, verify=True)
        outcomes.append(
            (
                response.url,
                [r.status_code for r in response.history],
                sorted(session.cookies.keys()),
                adapter.seen,
            )
        )
    assert outcomes[1] == outcomes[0]
    url, history, cookies, seen = outcomes[0]
    assert url.endswith("/moved") and history == [302] and cookies == ["a", "after"]
    assert len(seen) == 2


def test_environment_is_read_when_the_session_trusts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3129")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/tmp/env-bundle.pem")
    seen = []
    for session, adapter in _sessions():
        session.trust_env = True
        session.request("GET", URL, timeout=1.0, proxies=None, verify=True, files=None)
        seen.append(adapter.seen)
    assert seen[1] == seen[0]
    kwargs = dict(seen[0][0][4])
    assert kwargs["proxies"]["https"] == "http://127.0.0.1:3129"
    assert kwargs["verify"] == "/tmp/env-bundle.pem"


def test_a_header_that_breaks_a_line_is_refused_before_sending() -> None:
    for session, adapter in _sessions():
        with pytest.raises(requests.exceptions.InvalidHeader):
            session.request("GET", URL, headers={"X-MBX-APIKEY": "k\r\nX-Evil: 1"}, files=None)
        assert adapter.seen == []


def test_clients_built_from_config_use_it_and_keep_ccxt_settings(venue: Any) -> None:
    client = CcxtBrokerageClient(
        "binance", apiKey="k" * 8, secret="s" * 8, sandbox=True, requests_trust_env=True
    )
    assert isinstance(client.exchange.session, CcxtSession)
    assert client.exchange.session.trust_env is True
    default = CcxtBrokerageClient("binance", apiKey="k" * 8, secret="s" * 8, sandbox=True)
    assert default.exchange.session.trust_env is False
    assert default.exchange.load_markets()  # requests through it reach the venue


def test_a_ready_exchange_keeps_its_own_session() -> None:
    exchange = ccxt.binance({"apiKey": "k" * 8, "secret": "s" * 8})
    exchange.set_sandbox_mode(True)
    own = exchange.session
    client = CcxtBrokerageClient(exchange)
    assert client.exchange.session is own and not isinstance(own, CcxtSession)


def test_ccxt_shaped_requests_skip_the_general_preparation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The point of the session: ccxt's requests never reach requests' general path
    (the parity cases above would pass just as well if every request took it)."""
    general: list[str] = []
    original = requests.Session.prepare_request

    def spy(self: requests.Session, request: requests.Request) -> PreparedRequest:
        general.append(str(request.url))
        return original(self, request)

    monkeypatch.setattr(requests.Session, "prepare_request", spy)
    (_, _), (session, _) = _sessions()
    for case in CASES[:6]:
        session.request(case["method"], URL, **{k: v for k, v in case.items() if k != "method"})
    assert general == []
    session.request("GET", URL, params={"a": "1"})
    assert len(general) == 1


def _requests_url(url: str) -> str | type[Exception]:
    prepared = PreparedRequest()
    try:
        prepared.prepare_url(url, None)
    except Exception as exc:  # requests refuses it: the session must refuse it too
        return type(exc)
    return str(prepared.url)


def _session_url(url: str) -> str | type[Exception]:
    (_, _), (session, adapter) = _sessions()
    try:
        session.request("GET", url, timeout=1.0, proxies=None, verify=True, files=None)
    except Exception as exc:
        return type(exc)
    return str(adapter.seen[0][1])


URL_CASES = [
    "https://testnet.binance.vision/api/v3/order?symbol=BTCUSDT&timestamp=1&signature=ab12",
    "https://api.binance.com/api/v3/exchangeInfo",
    "https://API.Binance.com/api/v3/time",  # host lowercased
    "HTTPS://api.binance.com/x",  # scheme lowercased
    "https://api.binance.com",  # no path: "/"
    "https://api.binance.com?x=1",
    "https://api.binance.com/a/./b/../c",  # dot segments resolved
    "https://api.binance.com/a?b=%41%2F",  # unreserved escapes unquoted
    "https://api.binance.com/a b?c=d e",  # spaces quoted
    "https://api.binance.com/a?",  # empty query dropped
    "https://api.binance.com/a#frag",
    "https://api.binance.com:0443/a",  # port without its leading zero
    "https://api.binance.com:443/a",
    "https://api.binance.com:99999/a",  # invalid port
    "https://.binance.com/a",  # invalid label
    "https://bücher.example/a",  # idna
    "https://api.binance.com/a;b?c=1",
    "http://127.0.0.1:8080/api/v3/order?symbol=BTCUSDT",
    "https://[::1]:8443/a",
]


@pytest.mark.parametrize("url", URL_CASES)
def test_urls_come_out_as_requests_prepares_them(url: str) -> None:
    assert _session_url(url) == _requests_url(url)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["http", "https", "HTTP", "hTtps"]),
    st.text(alphabet="aB0.-*:", min_size=0, max_size=12),
    st.text(alphabet="az09/._~-!$&'()*+,=:;%# ?[]é", max_size=30),
)
def test_any_url_comes_out_as_requests_prepares_it(scheme: str, host: str, rest: str) -> None:
    url = f"{scheme}://{host}{rest}"
    assert _session_url(url) == _requests_url(url)
