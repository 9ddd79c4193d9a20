"""A strategy that runs unchanged in the dryrun and live domains.

It reads ``connectors:`` from ``qmtl.yml``: in ``dryrun`` orders go to the fake paper
broker, in ``live`` to the configured brokerage. On the first price it buys at market,
then brackets the position with a take-profit / stop-loss OCO pair; when one leg fills
the other is cancelled (by the venue, the connector, or OCOOrder's watcher).

Run it on its own with ``python dryrun_live_switch_strategy.py --config qmtl.yml``: it
runs in the config's ``execution_domain`` (``--domain`` overrides it). In ``dryrun`` it
is driven by a scripted market; in ``live`` it trades off the configured feed until the
bracket settles. ``examples/demo.py`` drives it in both domains.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from qmtl_core import Connectors, OCOOrder, OcoResult, OrderAck, load_connectors
from qmtl_core.orders import OrderType


@dataclass(frozen=True)
class Settings:
    symbol: str = "BTC/USDT"
    quantity: Decimal = Decimal("0.01")
    take_profit: Decimal = Decimal("0.02")  # +2 %
    stop_loss: Decimal = Decimal("0.02")  # -2 %


def _describe(ack: OrderAck) -> str:
    price = f" @ {ack.average_price}" if ack.average_price is not None else ""
    return f"{ack.id:<8} {ack.status.value:<9} qty filled {ack.filled_quantity}{price}"


class DryrunLiveSwitchStrategy:
    """Buy on the first tick, then manage a TP/SL OCO bracket."""

    def __init__(
        self,
        connectors: Connectors,
        settings: Settings | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings or Settings()
        self.domain = connectors.execution_domain
        # The async twin: orders are awaited on the feed's loop, which keeps delivering
        # ticks and answering pings while an order waits or retries.
        self.broker = connectors.async_brokerage
        self.feed = connectors.feed(on_message=self.on_message, on_reconnect=self.on_reconnect)
        self.log = log
        self.entry: OrderAck | None = None
        self.oco: OCOOrder | None = None
        self.last_price: Decimal | None = None
        self.ticks = 0
        self.reconnects = 0
        self.bracket_placed = asyncio.Event()

    async def on_message(self, event: dict[str, Any]) -> None:
        # "price": the demo gateway's ticks; "trade": a venue's trades (the ccxt feed).
        if (
            event.get("event") not in ("price", "trade")
            or event.get("symbol") != self.settings.symbol
        ):
            return
        self.ticks += 1
        self.last_price = Decimal(str(event["price"]))
        self.log(f"[{self.domain}] tick   {self.settings.symbol} {self.last_price}")
        if self.entry is None:
            await self._enter()

    async def on_reconnect(self) -> None:
        """Ticks may have been missed while the feed was down: re-read the bracket."""
        self.reconnects += 1
        self.log(f"[{self.domain}] feed reconnected: reconciling open orders")
        for leg in self.oco.legs or () if self.oco is not None else ():
            current = await self.broker.poll_order_status(leg)
            self.log(f"[{self.domain}]   reconciled {_describe(current)}")

    async def _enter(self) -> None:
        s = self.settings
        self.entry = await self.broker.post_order(
            {"symbol": s.symbol, "side": "BUY", "type": "market", "quantity": s.quantity}
        )
        self.log(f"[{self.domain}] entry  {_describe(self.entry)}")
        entry_price = self.entry.average_price or self.last_price
        assert entry_price is not None
        take_profit = (entry_price * (1 + s.take_profit)).quantize(Decimal("0.01"))
        stop = (entry_price * (1 - s.stop_loss)).quantize(Decimal("0.01"))
        stop_leg: dict[str, Any] = {"symbol": s.symbol, "side": "SELL", "quantity": s.quantity}
        if OrderType.STOP in self.broker.capabilities.order_types:
            stop_leg.update(type="stop", stop_price=stop)
        else:  # a venue without stop orders: protect with a far limit instead
            stop_leg.update(type="limit", limit_price=stop * 2)
        self.oco = OCOOrder(
            {
                "symbol": s.symbol,
                "side": "SELL",
                "type": "limit",
                "quantity": s.quantity,
                "limit_price": take_profit,
            },
            stop_leg,
            poll_interval=0.05,
        )
        legs = await self.oco.execute_async(self.broker)
        oco_mode = self.broker.capabilities.oco.value
        self.log(f"[{self.domain}] OCO    take-profit {take_profit} / stop {stop} ({oco_mode})")
        for name, leg in zip(("take-profit", "stop-loss"), legs, strict=True):
            self.log(f"[{self.domain}]   {name:<11} {_describe(leg)}")
        self.bracket_placed.set()

    async def settle(self, timeout: float) -> OcoResult:
        """Wait for the OCO pair to settle (the loop runs on) and log the outcome."""
        assert self.oco is not None, "no bracket placed yet"
        result = await self.oco.wait_async(timeout)
        for leg in result.legs:
            self.log(f"[{self.domain}] final  {_describe(leg)}")
        if result.filled is not None and result.canceled is not None:
            self.log(
                f"[{self.domain}] OCO done: {result.filled.id} filled, "
                f"{result.canceled.id} cancelled"
            )
        return result


async def run_dryrun(config: str, settings: Settings, prices: list[Decimal]) -> OcoResult:
    """Drive the strategy through a scripted market on the offline fake connectors."""
    connectors = load_connectors(config).with_domain("dryrun")
    strategy = DryrunLiveSwitchStrategy(connectors, settings)
    await strategy.feed.start()
    try:
        for price in prices:
            connectors.brokerage.update_price(settings.symbol, price)
            await strategy.feed.emit(
                {"event": "price", "symbol": settings.symbol, "price": str(price)}
            )
        return await strategy.settle(5.0)
    finally:
        await strategy.feed.stop()


async def run_live(connectors: Connectors, settings: Settings, timeout: float) -> OcoResult:
    """Trade off the configured feed: enter on the first tick, then wait for the bracket."""
    strategy = DryrunLiveSwitchStrategy(connectors, settings)
    await strategy.feed.start()
    try:
        await strategy.bracket_placed.wait()
        return await strategy.settle(timeout)
    finally:
        await strategy.feed.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="examples/qmtl.yml")
    parser.add_argument(
        "--domain", choices=("dryrun", "live"), help="override the config's execution_domain"
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="live: seconds to wait for the bracket"
    )
    args = parser.parse_args(argv)
    connectors = load_connectors(args.config)
    if args.domain:
        connectors = connectors.with_domain(args.domain)
    if connectors.dryrun and not connectors.paper_on_live_prices:
        prices = [Decimal(p) for p in ("50000", "50400", "50800", "51050")]
        result = asyncio.run(run_dryrun(args.config, Settings(), prices))
    else:
        result = asyncio.run(run_live(connectors, Settings(), args.timeout))
    return 0 if result.filled is not None and not result.both_filled else 1


if __name__ == "__main__":
    raise SystemExit(main())
