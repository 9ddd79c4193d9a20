"""Fixtures: a real WebSocket gateway on a free loopback port, quick reconnect settings,
waiting on conditions with deadlines, and a check that no test leaves a thread behind."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from qmtl_core import runtime
from qmtl_core.testing.peers import hanging_port
from qmtl_core.testing.scenarios import Messages
from qmtl_plugin_websocket.gateway import Gateway

TOKEN = "test-token-5f0c9a"


def seqs(messages: Messages) -> list[int]:
    return [m["seq"] for m in messages if "seq" in m]


class Background(threading.Thread):
    """Runs ``call`` on a thread and keeps its result or exception for the test."""

    def __init__(self, call: Callable[[], object]) -> None:
        super().__init__(name="test-background")
        self._call = call
        self.result: object = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as exc:
            self.error = exc


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A loopback ws:// URL whose TCP connect hangs: the listener's backlog is full."""
    with hanging_port() as port:
        yield f"ws://127.0.0.1:{port}/ws"


@pytest.fixture
def mute_server() -> Iterator[socket.socket]:
    """A loopback TCP listener that accepts but never says a word (stalls TLS or HTTP)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(5)
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"ws://127.0.0.1:{port}/ws"


@pytest.fixture(autouse=True)
def no_thread_left_behind(qmtl_no_thread_left_behind: None) -> None:
    """Every test here fails if it leaves a thread running (the core's check)."""


@pytest.fixture(autouse=True)
def quick_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnect delays in tens of milliseconds; heartbeat settings stay at their defaults."""
    monkeypatch.setattr(runtime, "WS_BACKOFF_INITIAL_SECONDS", 0.02)
    monkeypatch.setattr(runtime, "WS_BACKOFF_MAX_SECONDS", 0.1)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with Gateway(TOKEN) as server:
        yield server
