"""The Binance USD-M demo-trading demo: its --offline mode runs end to end on recorded answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = (
    Path(__file__).resolve().parents[3]
    / "examples/brokerage_demo/ccxt_binance_futures_sandbox_demo.py"
)
KEYS = ("BINANCE_DEMO_KEY", "BINANCE_DEMO_SECRET")


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    return subprocess.run(
        [sys.executable, str(DEMO), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_offline_demo_runs_the_whole_flow() -> None:
    result = run_demo("--offline")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "client   FuturesCcxtBrokerageClient(exchange='binanceusdm', environment='demo')"
    )
    assert "status=new" in lines[1]
    assert "polled   status=partially_filled filled=0.001" in lines
    assert "position BTC/USDT:USDT LONG 0.001 @ 29100.0" in lines
    assert "canceled status=canceled filled=0.001" in lines
    assert "sandbox=True routes to demo trading" in result.stderr


def test_real_mode_refuses_to_start_without_keys() -> None:
    result = run_demo()
    assert result.returncode == 2
    assert "refusing to run: set BINANCE_DEMO_KEY and BINANCE_DEMO_SECRET" in result.stderr
    assert result.stdout == ""
