"""Binance Spot Testnet through CcxtBrokerageClient: place, watch, list, cancel, fees.

    python examples/brokerage_demo/ccxt_binance_sandbox_demo.py             # the real testnet
    python examples/brokerage_demo/ccxt_binance_sandbox_demo.py --offline   # recorded answers

The real run needs Spot Testnet keys (https://testnet.binance.vision) in
BINANCE_TESTNET_KEY and BINANCE_TESTNET_SECRET and refuses to start without them.
``--offline`` runs the same flow against recorded Binance answers served in-process:
nothing leaves the machine, and the recorded market fills part of the order.
"""

from __future__ import annotations

import argparse
import os
import sys
from decimal import Decimal
from typing import Any

from qmtl_core import CcxtBrokerageClient, make_ccxt_brokerage

SYMBOL = "BTC/USDT"
KEY_ENV, SECRET_ENV = "BINANCE_TESTNET_KEY", "BINANCE_TESTNET_SECRET"


def run(api_key: str, secret: str, venue: Any = None) -> None:
    client = CcxtBrokerageClient(
        "binance",
        apiKey=api_key,
        secret=secret,
        sandbox=True,
        options={"defaultType": "spot"},
    )
    print(f"client   {client!r}")
    last = Decimal(str(client.exchange.fetch_ticker(SYMBOL)["last"]))
    # Far enough below the market to rest, near enough for the venue's price band.
    price = (last * Decimal("0.9")).quantize(Decimal("0.01"))
    resp = client.post_order(
        {
            "symbol": SYMBOL,
            "side": "BUY",
            "type": "limit",
            "quantity": 0.001,
            "limit_price": price,
            "time_in_force": "GTC",
        }
    )
    print(f"placed   id={resp.id} client_order_id={resp.client_order_id} status={resp.status}")
    print(f"         limit {price} below the last price {last}: it rests")
    working = client.open_orders(SYMBOL)
    print(f"open     {[a.id for a in working]}")
    if venue is not None:
        venue.fill(resp.client_order_id, "0.0004")
        print("offline  the recorded market trades 0.0004 through the order")
    status = client.poll_order_status(resp)
    print(f"polled   status={status.status} filled={status.filled_quantity}")
    canceled = client.cancel_order(resp)
    print(f"canceled status={canceled.status} filled={canceled.filled_quantity}")
    fees = make_ccxt_brokerage("binance", symbol=SYMBOL, sandbox=True)
    fee = fees.fee_for(canceled, "maker")
    print(f"fees     maker={fees.maker} taker={fees.taker} source={fees.source} charged={fee}")
    balances = {asset: str(b.total) for asset, b in client.balance().items()}
    print(f"balance  {balances}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offline", action="store_true", help="run on recorded answers")
    args = parser.parse_args()
    if args.offline:
        from qmtl_plugin_ccxt_spot.recorded import OFFLINE_API_KEY, OFFLINE_SECRET, binance_spot

        with binance_spot() as venue:
            run(OFFLINE_API_KEY, OFFLINE_SECRET, venue)
        return 0
    api_key, secret = os.environ.get(KEY_ENV), os.environ.get(SECRET_ENV)
    if not api_key or not secret:
        print(
            f"refusing to run: set {KEY_ENV} and {SECRET_ENV} to Binance Spot Testnet keys "
            "(https://testnet.binance.vision), or pass --offline to use recorded answers",
            file=sys.stderr,
        )
        return 2
    run(api_key, secret)
    return 0


if __name__ == "__main__":
    sys.exit(main())
