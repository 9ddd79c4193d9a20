"""The strategy process of ``make demo``'s crash-and-restart part (run as a script).

It places one intent (a market order with its own ``client_order_id``) through the
Runner and the journal of ``state:``, then prints what the journal knows of it. The demo
kills it with SIGKILL while the broker holds the order but has not answered, and runs
it again: the restarted process reconciles, knows the order, and sends nothing.
"""

from __future__ import annotations

import sys

from qmtl_core import Runner, load_connectors, runtime

INTENT = {
    "symbol": "BTC/USDT",
    "side": "BUY",
    "type": "market",
    "quantity": "0.01",
    "client_order_id": "demo-crash-1",
}


def main() -> int:
    broker_url, state = sys.argv[1], sys.argv[2]
    runtime.HTTP_TIMEOUT_SECONDS = 30.0  # wait for the stalled answer: the demo kills us first
    connectors = load_connectors(
        {"execution_domain": "live", "broker_url": broker_url, "state": state}
    )
    Runner.set_trade_execution_service(connectors.brokerage)
    print(f"[strategy] submitting {INTENT['client_order_id']}", flush=True)
    result = Runner.submit_order(INTENT)
    entry = connectors.journal.get(INTENT["client_order_id"])
    assert entry is not None
    venue_id = entry.ack.id if entry.ack else "-"
    status = entry.ack.status.value if entry.ack else "-"
    print(
        f"[strategy] outcome {result.outcome}; journal: {entry.client_order_id} {entry.state}"
        f" (venue id {venue_id}, status {status})",
        flush=True,
    )
    connectors.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
