"""Binance USD-M futures demo trading through FuturesCcxtBrokerageClient.

    python examples/brokerage_demo/ccxt_binance_futures_sandbox_demo.py             # real demo
    python examples/brokerage_demo/ccxt_binance_futures_sandbox_demo.py --offline   # recorded

Binance replaced its futures testnet with demo trading, so ``sandbox=True`` (as in the
seed) trades on demo trading; create keys at https://demo.binance.com and export them
as BINANCE_DEMO_KEY and BINANCE_DEMO_SECRET (the real run refuses to start without).
``--offline`` runs the same flow against recorded Binance answers served in-process.
"""

from __future__ import annotations

import argparse
import os
import sys
from decimal import Decimal
from typing import Any

from qmtl_core import FuturesCcxtBrokerageClient

SYMBOL = "BTC/USDT"
KEY_ENV, SECRET_ENV = "BINANCE_DEMO_KEY", "BINANCE_DEMO_SECRET"


def run(api_key: str, secret: str, venue: Any = None) -> None:
    client = FuturesCcxtBrokerageClient(
        "binanceusdm",
        symbol=SYMBOL,
        leverage=5,
        margin_mode="cross",
        hedge_mode=True,
        apiKey=api_key,
        secret=secret,
        sandbox=True,
    )
    print(f"client   {client!r}")
    last = Decimal(str(client.exchange.fetch_ticker(SYMBOL)["last"]))
    # Below the market so it rests, inside the venue's 5% price band.
    price = (last * Decimal("0.97")).quantize(Decimal("0.1"))
    resp = client.post_order(
        {
            "symbol": SYMBOL,
            "side": "BUY",
            "type": "limit",
            "quantity": 0.002,
            "limit_price": price,
            "time_in_force": "GTC",
            "reduce_only": False,
            "position_side": "LONG",  # requires hedge_mode=True
            "leverage": 10,  # optional per-order adjustment
        }
    )
    print(f"placed   id={resp.id} client_order_id={resp.client_order_id} status={resp.status}")
    print(f"         limit {price} below the last price {last}, LONG side, leverage 10")
    if venue is not None:
        venue.fill(resp.client_order_id, "0.001")
        print("offline  the recorded market trades 0.001 through the order")
    status = client.poll_order_status(resp)
    print(f"polled   status={status.status} filled={status.filled_quantity}")
    for p in client.positions([SYMBOL]):
        print(f"position {p.symbol} {p.position_side} {p.quantity} @ {p.entry_price}")
    canceled = client.cancel_order(resp)
    print(f"canceled status={canceled.status} filled={canceled.filled_quantity}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offline", action="store_true", help="run on recorded answers")
    args = parser.parse_args()
    if args.offline:
        from qmtl_plugin_ccxt_futures.recorded import binance_usdm
        from qmtl_plugin_ccxt_spot.recorded import OFFLINE_API_KEY, OFFLINE_SECRET

        with binance_usdm() as venue:
            run(OFFLINE_API_KEY, OFFLINE_SECRET, venue)
        return 0
    api_key, secret = os.environ.get(KEY_ENV), os.environ.get(SECRET_ENV)
    if not api_key or not secret:
        print(
            f"refusing to run: set {KEY_ENV} and {SECRET_ENV} to Binance demo-trading keys "
            "(https://demo.binance.com), or pass --offline to use recorded answers",
            file=sys.stderr,
        )
        return 2
    run(api_key, secret)
    return 0


if __name__ == "__main__":
    sys.exit(main())
