"""A strategy process for the journal crash and race tests (run as a script).

It trades through ``load_connectors`` (HTTP brokerage, the given ``state:``) and the
Runner, and reports on stdout, one JSON object a line:

- ``--block before_send``: stops inside the send, after the journal write and before
  the request leaves (an order-event observer holds the ``sent`` event), and says
  ``sending``; the test kills it there;
- ``--block after_ack``: says ``acked`` once the answer is stored, then waits to be
  killed;
- ``--race N``: waits for ``go`` on stdin, then submits N intents as fast as it can;
- otherwise it submits the intent and reports ``done`` with the journal's entries.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from typing import Any

from qmtl_core import Runner, load_connectors, runtime
from qmtl_core.events import OrderEvent
from qmtl_core.hookspecs import hookimpl
from qmtl_core.registry import default_registry

INTENT: dict[str, Any] = {"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": "0.01"}


def say(**data: Any) -> None:
    print(json.dumps(data), flush=True)


class HoldBeforeSend:
    """Parks the sending thread at the ``sent`` event: journaled, nothing on the wire."""

    @hookimpl
    def qmtl_order_event(self, event: OrderEvent) -> None:
        if event.kind == "sent":
            say(event="sending", client_order_id=event.client_order_id)
            threading.Event().wait()


def intent(kind: str, number: int = 0) -> dict[str, Any]:
    if kind == "coid":
        return {**INTENT, "client_order_id": f"intent-{number}"}
    return {**INTENT, "timestamp": 1_700_000_000 + number}  # the content key identifies it


def entries() -> list[list[str]]:
    journal = Runner.journal()
    return [[e.client_order_id, e.state, e.ack.id if e.ack else ""] for e in journal.entries()]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--intent", choices=("coid", "content"), default="coid")
    parser.add_argument("--block", choices=("before_send", "after_ack", "none"), default="none")
    parser.add_argument("--race", type=int, default=0)
    args = parser.parse_args()
    runtime.HTTP_TIMEOUT_SECONDS = 30.0  # the test kills us long before
    runtime.RECONCILE_SETTLE_SECONDS = float(os.environ.get("QMTL_TEST_SETTLE", "0"))
    connectors = load_connectors(
        {
            "execution_domain": "live",
            "broker_url": args.broker,
            "trade_max_retries": 0,
            "state": args.state,
        }
    )
    Runner.set_trade_execution_service(connectors.brokerage)
    if args.block == "before_send":
        default_registry().plugin_manager.register(HoldBeforeSend())
    if args.race:
        say(event="ready")
        sys.stdin.readline()
        outcomes = [Runner.submit_order(intent(args.intent, i)).outcome for i in range(args.race)]
        say(event="done", sent=outcomes.count("sent"), duplicate=outcomes.count("duplicate"))
        connectors.close()
        return 0
    result = Runner.submit_order(intent(args.intent))
    if args.block == "after_ack":
        Runner.journal().flush()  # the outcome is stored (its writer is off the order path)
        say(event="acked", client_order_id=result.order.client_order_id)
        threading.Event().wait()
    say(
        event="done",
        outcome=result.outcome,
        ack_id=result.ack.id if result.ack else "",
        entries=entries(),
    )
    connectors.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
