"""``qmtl-connectors orders``: the journal's orders and a live tail of its events."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

from qmtl_core import open_journal
from qmtl_core.journal import EntryState
from qmtl_core.orders import OrderAck, OrderStatus, validate_order
from qmtl_core.testing import wait_until

CLI = str(Path(sys.executable).with_name("qmtl-connectors"))


def test_orders_lists_states_and_follows_new_events(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    order = {"symbol": "BTC/USDT", "side": "BUY", "type": "market", "quantity": "0.5"}
    with open_journal(url) as journal:
        journal.claim(validate_order({**order, "client_order_id": "cli-1"}), connector="Http")
        journal.record(
            "cli-1",
            EntryState.ACKNOWLEDGED,
            ack=OrderAck("H000001", "cli-1", OrderStatus.NEW, "BTC/USDT", Decimal(0)),
        )
        journal.claim(validate_order({**order, "client_order_id": "cli-2"}), connector="Http")
        listed = subprocess.run(
            [CLI, "orders", "--state", url], capture_output=True, text=True, timeout=60
        )
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0].split()[:3] == ["CLIENT_ORDER_ID", "STATE", "STATUS"]
        assert lines[1].split()[:4] == ["cli-1", "acknowledged", "new", "H000001"]
        assert lines[2].split()[:3] == ["cli-2", "in_flight", "-"]

        follow = subprocess.Popen(
            [CLI, "orders", "--state", url, "--follow"], stdout=subprocess.PIPE, text=True
        )
        seen: list[str] = []
        reader = threading.Thread(
            target=lambda: seen.extend(iter(follow.stdout.readline, "")),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        try:
            wait_until(lambda: any("cli-2" in line for line in seen), timeout=30)
            journal.record("cli-2", EntryState.NOT_PLACED, reason="reconciled")
            wait_until(
                lambda: any("cli-2 not_placed" in line for line in seen),
                timeout=30,
                what="the followed event",
            )
        finally:
            follow.send_signal(signal.SIGINT)
            assert follow.wait(timeout=30) == 0
            reader.join(timeout=30)


def test_a_bad_state_url_is_a_clear_error_without_traceback() -> None:
    result = subprocess.run(
        [CLI, "orders", "--state", "postgres://db/x"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "unsupported state URL" in result.stderr and "Traceback" not in result.stderr
