"""WebSocketClient against the real loopback gateway: auth, heartbeat, and abort."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from qmtl_core.errors import ConfigError, FeedAuthenticationError, FeedError
from qmtl_core.redaction import Secret, redact_url
from qmtl_core.testing import wait_until as wait_for
from qmtl_plugin_websocket.client import WebSocketClient
from qmtl_plugin_websocket.gateway import Gateway

from .conftest import TOKEN, Background

ABORT_DEADLINE = 1.0


def test_token_goes_out_as_bearer_header_and_messages_flow(gateway: Gateway) -> None:
    with WebSocketClient(gateway.url, token=TOKEN) as client:
        client.send({"op": "subscribe", "channel": "prices"})
        assert json.loads(client.receive()) == {"event": "subscribed", "channel": "prices"}
        gateway.push_price("BTC/USDT", "50000")
        assert json.loads(client.receive()) == {
            "event": "price",
            "symbol": "BTC/USDT",
            "price": "50000",
        }
    assert gateway.subscriptions == [{"op": "subscribe", "channel": "prices"}]
    assert gateway.refused == 0


def test_secret_values_in_a_message_are_revealed_only_on_the_wire(gateway: Gateway) -> None:
    with WebSocketClient(gateway.url, token=Secret(TOKEN)) as client:
        assert TOKEN not in repr(client)
        client.send({"op": "auth", "key": Secret("api-key-value")})
        wait_for(lambda: len(gateway.received) == 1)
    assert gateway.received == [{"op": "auth", "key": "api-key-value"}]


@pytest.mark.parametrize(
    ("given", "refuse", "status"), [("wrong-token-xyz", None, 401), (TOKEN, 403, 403)]
)
def test_a_refused_handshake_is_an_authentication_error_that_leaks_nothing(
    gateway: Gateway,
    caplog: pytest.LogCaptureFixture,
    given: str,
    refuse: int | None,
    status: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    if refuse is not None:
        gateway.refuse_handshakes(refuse)
    client = WebSocketClient(gateway.url, token=given)
    with pytest.raises(FeedAuthenticationError, match=f"HTTP {status}; check the token") as info:
        client.connect()
    assert gateway.refused == 1
    shown = " ".join((str(info.value), repr(info.value), repr(client), caplog.text))
    assert given not in shown


def test_other_handshake_refusals_and_closed_ports_are_plain_feed_errors(
    gateway: Gateway, closed_port_url: str
) -> None:
    gateway.refuse_handshakes(503)
    with pytest.raises(FeedError, match="HTTP 503") as info:
        WebSocketClient(gateway.url, token=TOKEN).connect()
    assert not isinstance(info.value, FeedAuthenticationError)
    with pytest.raises(FeedError, match="cannot connect"):
        WebSocketClient(closed_port_url, token=TOKEN).connect()


@pytest.mark.parametrize("url", ["http://127.0.0.1/ws", "ws:///path", "127.0.0.1:80", "ws://h:x/"])
def test_a_bad_url_is_a_config_error_naming_url(url: str) -> None:
    with pytest.raises(ConfigError, match="url") as info:
        WebSocketClient(url)
    assert info.value.key == "url"


def test_urls_in_messages_hide_user_info_and_query() -> None:
    shown = redact_url("wss://user:pw@venue.example:9443/ws?apikey=k1")
    assert shown == "wss://user:***@venue.example:9443/ws?***"


def test_a_quiet_peer_that_answers_pings_stays_connected(gateway: Gateway) -> None:
    # Four pings take longer than the receive timeout: only the pongs keep it open.
    with WebSocketClient(gateway.url, token=TOKEN, ping_interval=0.2, recv_timeout=0.5) as client:
        reader = Background(client.receive)
        wait_for(lambda: client.pings_sent >= 4)
        gateway.push_price("BTC/USDT", "1")
        reader.join(timeout=5)
    assert reader.error is None
    assert isinstance(reader.result, bytes) and json.loads(reader.result)["price"] == "1"


def test_a_silent_peer_is_detected_after_the_receive_timeout(gateway: Gateway) -> None:
    recv_timeout = 0.3
    with WebSocketClient(
        gateway.url, token=TOKEN, ping_interval=30, recv_timeout=recv_timeout
    ) as client:
        gateway.wait_for_connections()
        gateway.silence()
        began = time.monotonic()
        with pytest.raises(FeedError, match=r"no frame for .* the peer is silent"):
            client.receive()
        waited = time.monotonic() - began
    assert recv_timeout <= waited < recv_timeout + 1.0
    assert client.pings_sent == 0


def test_an_unanswered_ping_is_detected(gateway: Gateway) -> None:
    with WebSocketClient(gateway.url, token=TOKEN, ping_interval=0.1, recv_timeout=30) as client:
        gateway.wait_for_connections()
        gateway.silence()
        with pytest.raises(FeedError, match=r"no pong within 0\.1s"):
            client.receive()
    assert client.pings_sent == 1


def _abort_promptly(client: WebSocketClient, blocked: Background) -> None:
    began = time.monotonic()
    client.abort()
    blocked.join(timeout=ABORT_DEADLINE)
    assert not blocked.is_alive(), "abort() did not interrupt the blocked call"
    assert time.monotonic() - began < ABORT_DEADLINE
    assert isinstance(blocked.error, FeedError)
    client.close()


def test_abort_interrupts_a_blocked_receive(gateway: Gateway) -> None:
    client = WebSocketClient(gateway.url, token=TOKEN)
    client.connect()
    blocked = Background(client.receive)
    gateway.wait_for_connections()
    _abort_promptly(client, blocked)


def test_abort_interrupts_a_stalled_http_handshake(gateway: Gateway) -> None:
    gateway.stall_handshakes()
    client = WebSocketClient(gateway.url, token=TOKEN, connect_timeout=30)
    blocked = Background(client.connect)
    wait_for(lambda: gateway.pending_handshakes == 1)
    _abort_promptly(client, blocked)


def test_abort_interrupts_a_hanging_tcp_connect(blackhole: str) -> None:
    client = WebSocketClient(blackhole, token=TOKEN, connect_timeout=30)
    blocked = Background(client.connect)
    wait_for(lambda: client.phase == "connecting")
    _abort_promptly(client, blocked)


def test_abort_interrupts_a_stalled_tls_handshake(mute_server: socket.socket) -> None:
    port = mute_server.getsockname()[1]
    client = WebSocketClient(f"wss://127.0.0.1:{port}/ws", token=TOKEN, connect_timeout=30)
    blocked = Background(client.connect)
    accepted, _ = mute_server.accept()  # the client's TLS hello now waits for an answer
    with accepted:
        _abort_promptly(client, blocked)


def test_abort_before_connect_means_connect_fails_at_once(gateway: Gateway) -> None:
    client = WebSocketClient(gateway.url, token=TOKEN)
    client.abort()
    with pytest.raises(FeedError):
        client.connect()
    assert gateway.connections == 0
