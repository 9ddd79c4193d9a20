"""The Binance Spot Testnet demo: its --offline mode runs end to end on recorded answers."""

from __future__ import annotations

from pathlib import Path

from qmtl_ccxt_common.testing import run_script

DEMO = Path(__file__).resolve().parents[3] / "examples/brokerage_demo/ccxt_binance_sandbox_demo.py"
KEYS = ("BINANCE_TESTNET_KEY", "BINANCE_TESTNET_SECRET")


def test_offline_demo_runs_the_whole_flow() -> None:
    result = run_script(DEMO, "--offline", unset=KEYS)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "client   CcxtBrokerageClient(exchange='binance', environment='sandbox')"
    assert "status=new" in lines[1]
    assert "limit 27000.00 below the last price 30000.0" in lines[2]
    assert "polled   status=partially_filled filled=0.0004" in lines
    assert "canceled status=canceled filled=0.0004" in lines
    assert any(line.startswith("fees     maker=0.001 taker=0.001 source=market") for line in lines)


def test_real_mode_refuses_to_start_without_keys() -> None:
    result = run_script(DEMO, unset=KEYS)
    assert result.returncode == 2
    assert "refusing to run: set BINANCE_TESTNET_KEY and BINANCE_TESTNET_SECRET" in result.stderr
    assert result.stdout == ""
