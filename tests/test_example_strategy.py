"""The example strategy run on its own, as its docstring says: in the config's domain."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from qmtl_plugin_http.server import BrokerServer
from qmtl_plugin_websocket.gateway import Gateway

ROOT = Path(__file__).resolve().parents[1]
STRATEGY = ROOT / "examples" / "strategies" / "dryrun_live_switch_strategy.py"
TOKEN = "example-token"


def test_a_live_config_runs_the_strategy_live(tmp_path: Path) -> None:
    with BrokerServer(prices={"BTC/USDT": 50000}) as broker, Gateway(token=TOKEN) as gateway:
        config = tmp_path / "live.yml"
        config.write_text(
            "connectors:\n"
            "  execution_domain: live\n"
            f"  broker_url: {broker.url}\n"
            f"  ws_url: {gateway.url}\n"
            f"  ws_token: {TOKEN}\n"
        )
        with subprocess.Popen(
            [sys.executable, str(STRATEGY), "--config", str(config), "--timeout", "30"],
            stdout=subprocess.PIPE,
            text=True,
        ) as proc:
            gateway.wait_for_connections(timeout=30)
            price = Decimal(50000)
            deadline = time.monotonic() + 60
            # A rising market: the entry fills, then the take-profit leg, and the stop is
            # cancelled; ticks go on until the strategy has settled and exited.
            while proc.poll() is None and time.monotonic() < deadline:
                broker.set_price("BTC/USDT", price)
                gateway.push_price("BTC/USDT", price)
                price += 100
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.05)  # one tick per 50 ms, until it exits
            out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    assert "[live] entry" in out and "[live] OCO done:" in out
    assert "[dryrun]" not in out
    assert broker.order_count == 3
