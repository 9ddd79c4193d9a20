"""``make demo``: the dry-run/live switch strategy, offline, in both domains.

1. ``dryrun``: fake paper broker and fake feed; a scripted market lifts the price
   through the take-profit, so the stop-loss is cancelled inside the engine.
2. ``live``: the same strategy and the same ``examples/qmtl.yml``, its URLs pointed at
   embedded loopback servers: the HTTP reference broker (orders) and the local
   WebSocket gateway (prices). On the way, the broker accepts the entry order but its
   answer is lost (a 502), and the gateway drops the feed's connection; the client
   finds the order instead of sending it twice, and the feed reconnects.
3. crash and restart: a strategy process sends an order through the SQLite journal, the
   broker takes it but stalls its answer, and the demo kills the process (SIGKILL). The
   restarted process reconciles (the order is found by its client_order_id) and sends
   nothing: the broker holds one order.
4. paper trading on streamed prices: ``dryrun`` with the ``ccxt`` feed on a loopback
   Binance stand-in; its trades drive the paper broker, a resting limit buy fills when
   the streamed price crosses it, and no order reaches the stand-in.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from qmtl_core import OcoResult, load_connectors
from qmtl_core.orders import OrderStatus
from qmtl_plugin_ccxt_stream.testing import BinanceStandIn
from qmtl_plugin_http.server import BrokerServer
from qmtl_plugin_websocket.gateway import Gateway

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "strategies"))

from dryrun_live_switch_strategy import (  # noqa: E402
    DryrunLiveSwitchStrategy,
    Settings,
    run_dryrun,
)

PRICES = [Decimal(p) for p in ("50000", "50400", "50800", "51050")]
TOKEN = "demo-gateway-token"


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"demo: {what} did not happen within {timeout}s")
        await asyncio.sleep(0.01)


def live_config(broker: BrokerServer, gateway: Gateway) -> dict[str, Any]:
    """examples/qmtl.yml with its URLs pointed at the embedded servers."""
    section = dict(YAML(typ="safe").load((HERE / "qmtl.yml").read_text())["connectors"])
    section["broker_url"] = broker.url
    del section["ws_url"]
    section["feed"] = {
        "name": "websocket",
        "url": gateway.url,
        "token": TOKEN,
        "subscribe": [{"op": "subscribe", "channel": "prices", "symbol": Settings.symbol}],
    }
    return {"connectors": section}


async def run_live(settings: Settings) -> tuple[OcoResult, int]:
    with (
        BrokerServer(prices={settings.symbol: PRICES[0]}) as broker,
        Gateway(token=TOKEN) as gateway,
    ):
        connectors = load_connectors(live_config(broker, gateway))
        print(f"config: {connectors.config.dump()}")
        strategy = DryrunLiveSwitchStrategy(connectors, settings)
        print("fault 1: the broker will accept the entry order and then answer 502")
        broker.faults.fail_next(1, 502, method="POST", accept=True)
        await strategy.feed.start()
        await asyncio.to_thread(gateway.wait_for_connections)
        try:
            for number, price in enumerate(PRICES, 1):
                broker.set_price(settings.symbol, price)
                gateway.push_price(settings.symbol, price)
                await until(lambda n=number: strategy.ticks >= n, f"tick {number}")
                if number == 1:
                    await until(strategy.bracket_placed.is_set, "the OCO bracket")
                if number == 2:
                    print("fault 2: the gateway drops the feed's connection")
                    gateway.drop_connections()
                    await until(lambda: strategy.reconnects == 1, "the feed reconnecting")
            result = await strategy.settle(10.0)
        finally:
            await strategy.feed.stop()
        posts = len(broker.seen("POST"))
        print(f"broker saw {posts} order POSTs; the lost answer was found by a lookup, not re-sent")
        return result, broker.order_count


def run_crash_restart() -> int:
    """Kill the strategy mid-order, restart it; returns how many orders the broker holds."""
    strategy = [sys.executable, str(HERE / "crash_restart_strategy.py")]
    with (
        BrokerServer(prices={Settings.symbol: PRICES[0]}) as broker,
        tempfile.TemporaryDirectory(prefix="qmtl-demo-state-") as folder,
    ):
        args = [broker.url, f"sqlite:///{folder}/state.db"]
        broker.faults.stall_next(1, seconds=30, method="POST", accept=True)
        first = subprocess.Popen([*strategy, *args])
        deadline = time.monotonic() + 30
        while broker.order_count == 0:
            if time.monotonic() > deadline or first.poll() is not None:
                raise TimeoutError("demo: the broker never received the order")
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        print("killed the strategy (SIGKILL): the broker holds the order, its answer was lost")
        print("restarting the strategy with the same state:")
        subprocess.run([*strategy, *args], check=True)
        held = broker.orders()
        for ack in held:
            print(f"broker holds {ack.id} {ack.client_order_id} {ack.status.value}")
        print(f"broker holds {len(held)} order, saw {len(broker.seen('POST'))} order POST")
        return len(held)


async def run_paper_on_streamed_prices() -> bool:
    """dryrun + the ccxt feed: streamed trades fill a resting paper order; True if it did
    and no order reached the venue."""
    symbol = "BTC/USDT"
    with BinanceStandIn() as venue:
        feed = {"name": "ccxt", "exchange": "binance", "symbols": [symbol], "urls": venue.urls()}
        connectors = load_connectors({"execution_domain": "dryrun", "feed": feed})
        paper = connectors.brokerage

        async def on_message(message: dict[str, Any]) -> None:
            event, price = message["event"], message["price"]
            print(f"streamed {event} {price} -> paper price {paper.last_price(symbol)}")

        async with connectors.feed(on_message):
            await until(lambda: venue.listeners("btcusdt@trade") > 0, "the trade subscription")
            await venue.trade(symbol, "30000.00", "0.5")
            await until(lambda: paper.last_price(symbol) is not None, "the first streamed price")
            order = {"symbol": symbol, "side": "BUY", "type": "limit", "quantity": "0.01"}
            ack = paper.post_order(order | {"limit_price": "29900"})
            print(f"paper limit buy at 29900: {ack.status.value}")
            for price in ("29950.00", "29890.00"):
                await venue.trade(symbol, price, "0.5")
            await until(lambda: paper.poll_order_status(ack).is_complete, "the paper fill")
        filled = paper.poll_order_status(ack)
        connectors.close()
        sent = [path for _, path, _ in venue.rest if "order" in path]
        print(
            f"paper order {filled.status.value} at {filled.average_price}; orders sent: {len(sent)}"
        )
        return filled.status is OrderStatus.FILLED and not sent


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # keep order with log lines
    settings = Settings()
    banner("dryrun: fake paper broker + fake feed (examples/qmtl.yml, domain overridden)")
    dry = asyncio.run(run_dryrun(str(HERE / "qmtl.yml"), settings, PRICES))

    banner("live: HTTP reference broker + WebSocket gateway on 127.0.0.1")
    live, orders_at_broker = asyncio.run(run_live(settings))
    print(f"broker holds {orders_at_broker} orders for the 3 the strategy placed (entry, TP, SL)")

    banner("crash and restart: a SIGKILL mid-order, the journal, reconciliation")
    after_crash = run_crash_restart()

    banner("paper trading on streamed prices: dryrun + ccxt feed on a loopback Binance")
    paper_filled = asyncio.run(run_paper_on_streamed_prices())

    ok = (
        after_crash == 1
        and paper_filled
        and all(
            r.filled is not None and r.canceled is not None and not r.both_filled
            for r in (dry, live)
        )
        and orders_at_broker == 3
    )
    print("\ndemo OK" if ok else "\ndemo FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
