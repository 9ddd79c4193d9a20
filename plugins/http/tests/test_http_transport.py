"""What the order path's transport must keep from requests: proxies, CA settings, .netrc, pooling.

Every peer is on loopback: a scripted peer plays the broker, the forward proxy (it gets
the absolute URL in the request line) and, with a certificate made here, an HTTPS broker.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from qmtl_core import OrderStatus, TransientError
from qmtl_core.errors import RequestNotSent
from qmtl_core.testing import wait_until
from qmtl_plugin_http.client import HttpBrokerageClient

from .conftest import market
from .peer import ScriptedPeer

PATH = "/api/orders"
ACK = {"id": "B1", "status": "filled"}
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxy, CA or .netrc settings from the machine running the tests."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


@pytest.fixture
def peer() -> Iterator[ScriptedPeer]:
    with ScriptedPeer() as scripted:
        yield scripted


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_http_proxy_from_the_environment_gets_the_order(
    peer: ScriptedPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The broker's name does not resolve: only the proxy can have delivered the order.
    url = "http://broker.invalid:8080/api/orders"
    monkeypatch.setenv("HTTP_PROXY", f"http://desk:pw@127.0.0.1:{peer.port}")
    peer.add("POST", url, status=201, json_body=ACK)
    with HttpBrokerageClient(url, max_retries=0) as client:
        assert client.post_order(market(client_order_id="via-proxy")).status is OrderStatus.FILLED
    (call,) = peer.calls
    assert call.headers["Host"] == "broker.invalid:8080"
    assert call.headers["Proxy-Authorization"] == basic("desk", "pw")
    assert call.headers["Idempotency-Key"] == "via-proxy"


def test_no_proxy_sends_directly(peer: ScriptedPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedPeer() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        peer.add("POST", PATH, status=201, json_body=ACK)
        with HttpBrokerageClient(peer.base_url + PATH, max_retries=0) as client:
            client.post_order(market())
        assert proxy.calls == []
    assert [call.target for call in peer.calls] == [PATH]


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qmtl test broker")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "broker.pem", directory / "broker.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_peer(tmp_path: Path) -> Iterator[tuple[ScriptedPeer, Path]]:
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with ScriptedPeer(tls=context) as scripted:
        yield scripted, cert


def test_the_ca_bundle_from_the_environment_is_trusted(
    tls_peer: tuple[ScriptedPeer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    peer, cert = tls_peer
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    peer.add("POST", PATH, status=201, json_body=ACK)
    with HttpBrokerageClient(peer.base_url + PATH, max_retries=0) as client:
        assert client.post_order(market()).id == "B1"
    assert len(peer.calls) == 1


def test_an_unknown_certificate_is_refused_before_anything_is_sent(
    tls_peer: tuple[ScriptedPeer, Path],
) -> None:
    peer, _ = tls_peer
    peer.add("GET", f"{PATH}/B1", json_body=ACK)
    with HttpBrokerageClient(peer.base_url + PATH, max_retries=0) as client:
        with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
            client.poll_order_status("B1")
    assert peer.calls == []


class TunnelProxy:
    """A loopback HTTPS proxy: answers CONNECT, then pipes bytes both ways, blind to TLS."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.tunnels: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += client.recv(4096)
        target = request.split(b" ")[1]
        self.tunnels.append(target)
        host, _, port = target.decode().rpartition(":")
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        self._pipe(client, upstream)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._listener.close()


def test_https_goes_through_the_proxy_tunnel_with_the_certificate_checked(
    tls_peer: tuple[ScriptedPeer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    peer, cert = tls_peer
    proxy = TunnelProxy()
    try:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        peer.add("POST", PATH, status=201, json_body=ACK)
        with HttpBrokerageClient(peer.base_url + PATH, max_retries=0) as client:
            assert client.post_order(market()).id == "B1"
    finally:
        proxy.close()
    assert proxy.tunnels == [f"127.0.0.1:{peer.port}".encode()]
    assert [call.target for call in peer.calls] == [PATH]


def test_netrc_credentials_are_sent_unless_a_token_is_given(
    peer: ScriptedPeer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login desk password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    peer.add("GET", f"{PATH}/B1", json_body=ACK, repeat=True)
    with HttpBrokerageClient(peer.base_url + PATH, max_retries=0) as client:
        client.poll_order_status("B1")
    with HttpBrokerageClient(peer.base_url + PATH, max_retries=0, token="tok") as client:
        client.poll_order_status("B1")
    assert [call.headers["Authorization"] for call in peer.calls] == [
        basic("desk", "s3cret"),
        "Bearer tok",
    ]


def test_connections_are_kept_alive_and_shared_between_threads(peer: ScriptedPeer) -> None:
    threads, per_thread = 4, 20
    peer.add("POST", PATH, status=201, json_body=ACK, repeat=True)
    with HttpBrokerageClient(peer.base_url + PATH, max_retries=0) as client:
        for n in range(per_thread):
            client.post_order(market(client_order_id=f"s{n}"))
        assert peer.connections == 1
        with ThreadPoolExecutor(threads) as pool:
            ids = [f"t{n}" for n in range(threads * per_thread)]
            acks = list(pool.map(lambda coid: client.post_order(market(client_order_id=coid)), ids))
    assert [ack.client_order_id for ack in acks] == ids
    assert len(peer.calls) == (threads + 1) * per_thread
    assert 1 <= peer.connections <= threads


def test_a_keep_alive_connection_the_broker_closed_is_replaced_before_sending(
    peer: ScriptedPeer,
) -> None:
    peer.add("POST", PATH, status=201, json_body=ACK, close_after=True)
    peer.add("POST", PATH, status=201, json_body=ACK)
    with HttpBrokerageClient(peer.base_url + PATH, max_retries=0) as client:
        client.post_order(market(client_order_id="before"))
        wait_until(lambda: peer.closed == 1, timeout=5, what="the peer to close the connection")
        # No retry allowed: the order must go out on a fresh connection at the first try.
        ack = client.post_order(market(client_order_id="after"))
    assert ack.status is OrderStatus.FILLED
    assert [call.headers["Idempotency-Key"] for call in peer.calls] == ["before", "after"]
    assert peer.connections == 2


def test_a_token_the_transport_refuses_is_never_shown(peer: ScriptedPeer) -> None:
    with HttpBrokerageClient(peer.base_url + PATH, max_retries=0, token="s3cret\n") as client:
        with pytest.raises(RequestNotSent, match="'Authorization' has a line break") as info:
            client.post_order(market())
    assert "s3cret" not in "".join(traceback.format_exception(info.value))
    assert peer.calls == []
