"""Crash and race safety with real processes: SIGKILL at each point of a send, then a
restart; four processes racing on the same intents. The broker is the HTTP reference
broker; Redis is a real redis-server. The broker must hold exactly one order per intent
and the restarted process must know its state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qmtl_core import open_journal
from qmtl_core.testing import wait_until
from qmtl_plugin_http.server import BrokerServer

CHILD = Path(__file__).with_name("journal_child.py")
DEADLINE = 30.0


class Child:
    """One strategy process; its JSON lines are collected by a reader thread."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "QMTL_TEST_SETTLE": "0"},
        )
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(json.loads(line))

    def wait_for(self, event: str) -> dict[str, Any]:
        def said() -> bool:
            if self.process.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"child exited ({self.process.returncode}) before '{event}'")
            return any(line["event"] == event for line in self.lines)

        wait_until(said, timeout=DEADLINE, what=f"child saying '{event}'")
        return next(line for line in self.lines if line["event"] == event)

    def tell(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=DEADLINE)
        self._reader.join(timeout=DEADLINE)

    def finish(self) -> None:
        assert self.process.wait(timeout=DEADLINE) == 0
        self._reader.join(timeout=DEADLINE)


@pytest.fixture
def broker() -> Iterator[BrokerServer]:
    with BrokerServer(prices={"BTC/USDT": 50000}) as server:
        yield server


def state_for(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "redis":
        url: str = request.getfixturevalue("qmtl_redis_url")
        return url
    return f"sqlite:///{tmp_path}/state.db"


SCENARIOS = [
    (backend, point, intent)
    for backend in ("sqlite", "redis")
    for point in ("before_send", "accepted", "after_ack")
    for intent in ("coid", "content")
    if backend == "sqlite" or intent == "coid"
]


@pytest.mark.parametrize(("backend", "point", "intent"), SCENARIOS)
def test_killed_mid_order_then_restarted_the_broker_holds_one_order(
    backend: str,
    point: str,
    intent: str,
    broker: BrokerServer,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    state = state_for(backend, tmp_path, request)
    args = ["--state", state, "--broker", broker.url, "--intent", intent]
    if point == "accepted":
        broker.faults.stall_next(1, seconds=DEADLINE, method="POST", accept=True)
    block = {"before_send": "before_send", "accepted": "none", "after_ack": "after_ack"}[point]
    first = Child(*args, "--block", block)
    if point == "before_send":
        coid = first.wait_for("sending")["client_order_id"]
    elif point == "accepted":
        wait_until(lambda: broker.order_count == 1, timeout=DEADLINE, what="the broker accepting")
        coid = broker.orders()[0].client_order_id
    else:
        coid = first.wait_for("acked")["client_order_id"]
    first.kill()

    with open_journal(state) as reader:
        entry = reader.get(coid)
        assert entry is not None  # written ahead, whatever the kill point
        expected = "acknowledged" if point == "after_ack" else "in_flight"
        assert entry.state == expected
    assert broker.order_count == (0 if point == "before_send" else 1)

    second = Child(*args)
    done = second.wait_for("done")
    second.finish()
    assert broker.order_count == 1
    assert len(broker.seen("POST")) == 1  # never re-sent blind
    held = broker.orders()[0]
    acknowledged = [e for e in done["entries"] if e[1] == "acknowledged"]
    assert acknowledged == [[held.client_order_id, "acknowledged", held.id]]
    assert all(e[1] == "not_placed" for e in done["entries"] if e[1] != "acknowledged")
    # a new send when the first never left; otherwise the restart knew and sent nothing
    assert done["outcome"] == ("sent" if point == "before_send" else "duplicate")


@pytest.mark.parametrize(
    ("backend", "intent"), [("redis", "coid"), ("redis", "content"), ("sqlite", "coid")]
)
def test_four_processes_racing_on_the_same_intents_send_each_once(
    backend: str,
    intent: str,
    broker: BrokerServer,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    state = state_for(backend, tmp_path, request)
    intents = 15
    racers = [
        Child("--state", state, "--broker", broker.url, "--intent", intent, "--race", str(intents))
        for _ in range(4)
    ]
    for racer in racers:
        racer.wait_for("ready")
    for racer in racers:
        racer.tell("go")
    results = [racer.wait_for("done") for racer in racers]
    for racer in racers:
        racer.finish()
    assert sum(r["sent"] for r in results) == intents
    assert sum(r["duplicate"] for r in results) == 3 * intents
    assert broker.order_count == intents
    assert len(broker.seen("POST")) == intents
