"""The Binance USD-M demo-trading demo: its --offline mode runs end to end on recorded answers."""

from __future__ import annotations

from pathlib import Path

from qmtl_ccxt_common.testing import run_script

DEMO = (
    Path(__file__).resolve().parents[3]
    / "examples/brokerage_demo/ccxt_binance_futures_sandbox_demo.py"
)
KEYS = ("BINANCE_DEMO_KEY", "BINANCE_DEMO_SECRET")


def test_offline_demo_runs_the_whole_flow() -> None:
    result = run_script(DEMO, "--offline", unset=KEYS)
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
    result = run_script(DEMO, unset=KEYS)
    assert result.returncode == 2
    assert "refusing to run: set BINANCE_DEMO_KEY and BINANCE_DEMO_SECRET" in result.stderr
    assert result.stdout == ""
