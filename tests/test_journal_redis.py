"""The Redis journal when the network drops an answer: a claim made again is still the
same claim, never a duplicate of itself, and an outcome stored twice is one event."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from qmtl_core import open_journal
from qmtl_core.journal import EntryState, OrderJournal
from qmtl_core.orders import validate_order
from qmtl_core.testing.redis_server import RedisServer

ORDER = {"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": "0.01"}


class AnswerDropper:
    """A loopback TCP proxy to a Redis server. Once armed, the next script call
    (``EVALSHA``) reaches the server, and its connection is closed instead of the
    answer being passed back: the script ran, the client never hears it."""

    def __init__(self, port: int) -> None:
        self._target = ("127.0.0.1", port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.armed = threading.Event()
        self.dropped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            dropping = threading.Event()
            threading.Thread(target=self._up, args=(client, server, dropping), daemon=True).start()
            threading.Thread(
                target=self._down, args=(server, client, dropping), daemon=True
            ).start()

    def _up(self, client: socket.socket, server: socket.socket, dropping: threading.Event) -> None:
        while data := _recv(client):
            if self.armed.is_set() and b"EVALSHA" in data:
                self.armed.clear()
                dropping.set()
            server.sendall(data)
        server.close()

    def _down(
        self, server: socket.socket, client: socket.socket, dropping: threading.Event
    ) -> None:
        while data := _recv(server):
            if dropping.is_set():
                client.shutdown(socket.SHUT_RDWR)
                client.close()
                server.close()
                self.dropped.set()
                return
            client.sendall(data)
        client.close()

    def close(self) -> None:
        self._listener.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


@pytest.fixture
def proxied(
    qmtl_redis_server: RedisServer, qmtl_redis_url: str
) -> Iterator[tuple[OrderJournal, AnswerDropper]]:
    """A journal that reaches the session's (emptied) server through the proxy."""
    proxy = AnswerDropper(qmtl_redis_server.port)
    try:
        with open_journal(f"redis://127.0.0.1:{proxy.port}/0") as journal:
            yield journal, proxy
    finally:
        proxy.close()


def test_a_claim_whose_answer_was_lost_is_still_this_claim(
    proxied: tuple[OrderJournal, AnswerDropper],
) -> None:
    journal, proxy = proxied
    # the server knows the script: the dropped answer is its result
    journal.claim(validate_order({**ORDER, "client_order_id": "warm"}), connector="X")
    order = validate_order({**ORDER, "client_order_id": "lost-answer"})
    proxy.armed.set()
    claim = journal.claim(order, connector="X")  # ran, answer lost, made again
    assert proxy.dropped.is_set()
    assert claim.fresh, "the retried claim took its own entry for a duplicate"
    assert not journal.claim(order, connector="X").fresh  # a new claim still is one
    events = [e for e in journal.events() if e.client_order_id == "lost-answer"]
    assert [e.state for e in events] == ["in_flight"]


def test_an_outcome_whose_answer_was_lost_is_stored_once(
    proxied: tuple[OrderJournal, AnswerDropper],
) -> None:
    journal, proxy = proxied
    journal.claim(validate_order({**ORDER, "client_order_id": "warm"}), connector="X")
    journal.record("warm", EntryState.NOT_PLACED, reason="rejected")
    journal.flush()  # the server knows the script: the dropped answer is its result
    journal.claim(validate_order({**ORDER, "client_order_id": "o1"}), connector="X")
    journal.record("o1", EntryState.NOT_PLACED, reason="rejected")
    proxy.armed.set()
    journal.flush()  # the writer's call: ran, answer lost, made again
    assert proxy.dropped.is_set()
    events = [e.state for e in journal.events() if e.client_order_id == "o1"]
    assert events == ["in_flight", "not_placed"]


def test_a_forked_child_reads_what_it_recorded(qmtl_redis_url: str) -> None:
    """A child keeps the journal object but not its writer thread: it stores its own
    outcomes when it reads, instead of waiting for a thread that is not there."""
    script = (
        "import os, signal, sys\n"
        "from qmtl_core import open_journal\n"
        "from qmtl_core.journal import EntryState\n"
        "from qmtl_core.orders import validate_order\n"
        "journal = open_journal(sys.argv[1])\n"
        "fields = {'symbol': 'BTC/USDT', 'side': 'BUY', 'type': 'market', 'quantity': '1'}\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    signal.alarm(30)  # a child that hangs dies, and the test fails\n"
        "    journal.claim(validate_order({**fields, 'client_order_id': 'kid'}), connector='X')\n"
        "    journal.record('kid', EntryState.NOT_PLACED, reason='rejected')\n"
        "    os._exit(0 if journal.get('kid').state == 'not_placed' else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, qmtl_redis_url], timeout=60, check=False)
    assert done.returncode == 0
