"""Paper trading on live prices: ``dryrun`` with the ``ccxt`` feed configured.

The feed runs against the loopback Binance stand-in; its trades and tickers drive the
dryrun (paper) brokerage, so a resting limit order fills when the streamed price
crosses it, with no ``update_price`` in the strategy and no order at the venue.
"""

from __future__ import annotations

import asyncio
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from qmtl_core.config import load_connectors
from qmtl_core.orders import OrderStatus
from qmtl_core.testing import until
from qmtl_core.testing.scenarios import run_with_deadline as run
from qmtl_plugin_ccxt_stream.feed import CcxtStreamFeed
from qmtl_plugin_ccxt_stream.testing import BinanceStandIn

from .conftest import API_KEY, SECRET, SYMBOL, subscribed


def dryrun_config(venue: BinanceStandIn) -> dict[str, Any]:
    venue_options = {"exchange": "binance", "urls": venue.urls(), "enableRateLimit": False}
    return {
        "execution_domain": "dryrun",
        "brokerage": {"name": "ccxt", "apiKey": API_KEY, "secret": SECRET, **venue_options},
        "feed": {"name": "ccxt", "symbols": [SYMBOL], "channels": ["trades", "ticker"]}
        | venue_options,
    }


def test_a_resting_limit_fills_when_streamed_trades_cross_it(venue: BinanceStandIn) -> None:
    connectors = load_connectors(dryrun_config(venue))
    paper = connectors.brokerage
    seen: list[tuple[str, Decimal | None]] = []  # (event, the paper price the strategy saw)

    async def on_message(message: dict[str, Any]) -> None:
        seen.append((message["event"], paper.last_price(SYMBOL)))

    buy = {"symbol": SYMBOL, "side": "BUY", "type": "limit", "quantity": "0.01"}

    async def scenario() -> Any:
        feed = connectors.feed(on_message)
        assert isinstance(feed, CcxtStreamFeed)  # the configured live feed, not the fake one
        async with feed:
            await subscribed(venue, "btcusdt@trade", "btcusdt@ticker")
            await venue.trade(SYMBOL, "30000.00", "0.5")
            await until(lambda: len(seen) == 1, what="the first trade")
            ack = paper.post_order(buy | {"limit_price": "29900"})
            assert ack.status is OrderStatus.NEW  # below the market: it rests
            await venue.trade(SYMBOL, "29950.00", "0.5")
            await venue.ticker(SYMBOL, bid="29940.00", ask="29960.00", last="29950.00")
            await until(lambda: len(seen) == 3, what="a trade and a ticker above the limit")
            assert paper.poll_order_status(ack).status is OrderStatus.NEW
            await venue.trade(SYMBOL, "29890.00", "0.5")  # the market crosses the limit
            await until(lambda: len(seen) == 4, what="the crossing trade")
            return ack

    ack = run(scenario())
    # Each message's price reached the paper broker before the strategy's handler ran.
    assert seen == [
        ("trade", Decimal("30000")),
        ("trade", Decimal("29950")),
        ("ticker", Decimal("29950")),
        ("trade", Decimal("29890")),
    ]
    filled = paper.poll_order_status(ack)
    assert filled.status is OrderStatus.FILLED
    assert (filled.filled_quantity, filled.average_price) == (Decimal("0.01"), Decimal("29900"))
    assert [r for r in venue.rest if "order" in r[1].lower()] == []  # no order left the process
    connectors.close()


STRATEGY = (
    Path(__file__).resolve().parents[3] / "examples/strategies/dryrun_live_switch_strategy.py"
)


def test_the_example_strategy_paper_trades_on_streamed_prices(
    venue: BinanceStandIn, tmp_path: Path
) -> None:
    # The example strategy as a user runs it, on a dryrun qmtl.yml naming the ccxt feed:
    # it enters on the first streamed trade and its bracket settles when trades cross it,
    # with no update_price call anywhere and no order at the venue.
    config = tmp_path / "qmtl.yml"
    config.write_text(json.dumps({"connectors": dryrun_config(venue)}))  # JSON is YAML

    async def scenario() -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(STRATEGY), "--config", str(config), "--timeout", "20",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        await subscribed(venue, "btcusdt@trade")
        await venue.trade(SYMBOL, "30000.00", "0.5")  # the entry, filled at 30000
        out = b""
        assert proc.stdout is not None
        while b"OCO    take-profit" not in out:
            out += await asyncio.wait_for(proc.stdout.readline(), 20)
        await venue.trade(SYMBOL, "30700.00", "0.5")  # crosses the +2 % take-profit
        out += await asyncio.wait_for(proc.stdout.read(), 20)
        return await proc.wait(), out.decode()

    code, out = run(scenario(), timeout=60)
    assert code == 0, out
    assert "[dryrun] entry" in out and "@ 30000" in out
    assert "OCO done" in out
    assert [r for r in venue.rest if "order" in r[1].lower()] == []  # nothing left the process
