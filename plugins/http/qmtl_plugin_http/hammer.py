"""One strategy process hammering an account: places market orders as fast as its budget allows.

Run as ``python -m qmtl_plugin_http.hammer URL STATE ACCOUNT TAG [POOL=LIMIT/INTERVAL ...]``
by the multi-process tests and the rate-budget benchmark: several of these share one
account's budget through ``STATE`` against a reference broker enforcing the limit.
Once its client is built it prints ``ready`` and reads ``START END`` (epoch seconds)
from stdin, so slow starts on a busy machine do not skew the run; it then waits until
``START``, posts until ``END`` and prints a JSON summary (orders placed, ``RateLimited``
refusals, and its order events counted by kind: hundreds of budget waits are a count,
not a log line each). The broker counts any 429.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pluggy

from qmtl_core import hookspecs
from qmtl_core.errors import RateLimited
from qmtl_core.events import Events, OrderEvent
from qmtl_core.hookspecs import hookimpl
from qmtl_plugin_http.client import HttpBrokerageClient


def spawn(
    url: str, state: str, account: str, tags: list[str], limits: list[str]
) -> list[subprocess.Popen[str]]:
    """One hammer process per tag, sharing ``account`` through ``state``."""
    return [
        subprocess.Popen(  # noqa: S603 - this interpreter running this module
            [sys.executable, "-m", __name__, url, state, account, tag, *limits],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in tags
    ]


def start_together(workers: list[subprocess.Popen[str]], seconds: int) -> int:
    """Once every worker is ready, run them all from the next clock second for ``seconds``."""
    for worker in workers:
        assert worker.stdout is not None
        if worker.stdout.readline().strip() != "ready":
            raise RuntimeError(f"hammer process {worker.pid} failed to start")
    start = math.floor(time.time()) + 1
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(f"{start} {start + seconds}\n")
        worker.stdin.flush()
    return start


def results(workers: list[subprocess.Popen[str]], timeout: float) -> list[dict[str, Any]]:
    """Each worker's JSON summary once it has finished; ``RuntimeError`` if one failed
    (its traceback is on the shared stderr)."""
    summaries = []
    for worker in workers:
        out = worker.communicate(timeout=timeout)[0]
        if worker.returncode != 0:
            raise RuntimeError(f"hammer process {worker.pid} exited {worker.returncode}")
        summaries.append(json.loads(out))
    return summaries


class Tally:
    """Counts this process's order events by kind (its observer, instead of a log)."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()

    @hookimpl
    def qmtl_order_event(self, event: OrderEvent) -> None:
        self.kinds[event.kind] += 1


def tallied_events(tally: Tally) -> Events:
    """Events that reach ``tally`` only."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(tally)
    return Events(lambda: manager)


def main(argv: list[str]) -> int:
    url, state, account, tag, *limits = argv
    client = HttpBrokerageClient(
        url,
        max_retries=3,
        backoff=0.05,
        rate_limits=dict(spec.split("=", 1) for spec in limits),
        account=account,
        rate_limit_max_wait=5.0,
        state=state,
    )
    tally = Tally()
    client.events = tallied_events(tally)
    print("ready", flush=True)
    start, end = (float(word) for word in sys.stdin.readline().split())
    placed = limited = 0
    time.sleep(max(0.0, start - time.time()))
    while time.time() < end:
        order = {
            "symbol": "BTC/USDT",
            "side": "BUY",
            "type": "market",
            "quantity": "0.01",
            "client_order_id": f"{tag}-{placed + limited}",
        }
        try:
            client.post_order(order)
            placed += 1
        except RateLimited:
            limited += 1
    client.close()
    print(json.dumps({"placed": placed, "limited": limited, "events": tally.kinds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
