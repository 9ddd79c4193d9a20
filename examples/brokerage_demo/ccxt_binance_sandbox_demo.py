"""Binance Spot Testnet through CcxtBrokerageClient: place, watch, list, cancel, fees.

    python examples/brokerage_demo/ccxt_binance_sandbox_demo.py             # the real testnet
    python examples/brokerage_demo/ccxt_binance_sandbox_demo.py --offline   # recorded answers

The real run needs Spot Testnet keys (https://testnet.binance.vision) in
BINANCE_TESTNET_KEY and BINANCE_TESTNET_SECRET and refuses to start without them.
``--offline`` runs the same flow against recorded Binance answers served in-process:
nothing leaves the machine, and the recorded market fills part of the order.
"""

from __future__ import annotations

import sys

from demo_common import SYMBOL, fill_offline, main, place_resting_buy, show, show_state

from qmtl_ccxt_common.recorded import BinanceReplay, binance_spot
from qmtl_core import CcxtBrokerageClient, make_ccxt_brokerage

KEYS = ("BINANCE_TESTNET_KEY", "BINANCE_TESTNET_SECRET")
KEYS_ARE = "Binance Spot Testnet keys (https://testnet.binance.vision)"


def run(api_key: str, secret: str, venue: BinanceReplay | None) -> None:
    client = CcxtBrokerageClient(
        "binance",
        apiKey=api_key,
        secret=secret,
        sandbox=True,
        options={"defaultType": "spot"},
    )
    show("client", repr(client))
    # Far enough below the market to rest, near enough for the venue's price band.
    resp = place_resting_buy(client, quantity=0.001, below="0.9", tick="0.01", note=": it rests")
    working = client.open_orders(SYMBOL)
    show("open", f"{[a.id for a in working]}")
    fill_offline(venue, resp, "0.0004")
    show_state("polled", client.poll_order_status(resp))
    canceled = client.cancel_order(resp)
    show_state("canceled", canceled)
    fees = make_ccxt_brokerage("binance", symbol=SYMBOL, sandbox=True)
    fee = fees.fee_for(canceled, "maker")
    show("fees", f"maker={fees.maker} taker={fees.taker} source={fees.source} charged={fee}")
    balances = {asset: str(b.total) for asset, b in client.balance().items()}
    show("balance", f"{balances}")


if __name__ == "__main__":
    sys.exit(main(run, __doc__, binance_spot, KEYS, KEYS_ARE))
