"""The spot client's async twin is native: a ``ccxt.async_support`` exchange built from
the same config, on the recorded venue served on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import ccxt.async_support

from qmtl_ccxt_common.recorded import BinanceReplay
from qmtl_ccxt_common.recorded.loopback import loopback
from qmtl_ccxt_common.testing import LIMIT_ORDER, twin_exchange
from qmtl_core.aio import AsyncBrokerage
from qmtl_core.orders import OrderStatus
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient


def test_the_twin_trades_on_its_own_async_exchange_in_the_same_environment(
    venue: BinanceReplay, make_client: Callable[..., CcxtBrokerageClient]
) -> None:
    client = make_client()

    async def scenario() -> None:
        async with AsyncBrokerage(client) as twin:
            exchange = twin_exchange(twin)
            assert isinstance(exchange, ccxt.async_support.Exchange)
            assert exchange is not client.exchange and exchange.apiKey == client.exchange.apiKey
            with loopback(venue) as served:
                served.route(exchange)
                acks = await asyncio.gather(*(twin.post_order(LIMIT_ORDER) for _ in range(5)))
                polled = await twin.poll_order_status(acks[0])
                canceled = await twin.cancel_order(acks[1])
        assert len({a.id for a in acks}) == 5 and polled.status is OrderStatus.NEW
        assert canceled.status is OrderStatus.CANCELED

    asyncio.run(asyncio.wait_for(scenario(), 30))
    placed = venue.sent("POST", "order")
    assert len(placed) == 5
    # Sandbox routing is the sync client's: every order went to the testnet host.
    assert {seen.host for seen in placed} == {"testnet.binance.vision"}
