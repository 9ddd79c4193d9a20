"""Binance USD-M futures demo trading through FuturesCcxtBrokerageClient.

    python examples/brokerage_demo/ccxt_binance_futures_sandbox_demo.py             # real demo
    python examples/brokerage_demo/ccxt_binance_futures_sandbox_demo.py --offline   # recorded

Binance replaced its futures testnet with demo trading, so ``sandbox=True`` (as in the
seed) trades on demo trading; create keys at https://demo.binance.com and export them
as BINANCE_DEMO_KEY and BINANCE_DEMO_SECRET (the real run refuses to start without).
``--offline`` runs the same flow against recorded Binance answers served in-process.
"""

from __future__ import annotations

import sys

from demo_common import SYMBOL, fill_offline, main, place_resting_buy, show, show_state

from qmtl_ccxt_common.recorded import BinanceReplay
from qmtl_core import FuturesCcxtBrokerageClient
from qmtl_plugin_ccxt_futures.recorded import binance_usdm

KEYS = ("BINANCE_DEMO_KEY", "BINANCE_DEMO_SECRET")
KEYS_ARE = "Binance demo-trading keys (https://demo.binance.com)"


def run(api_key: str, secret: str, venue: BinanceReplay | None) -> None:
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
    show("client", repr(client))
    # Below the market so it rests, inside the venue's 5% price band.
    resp = place_resting_buy(
        client,
        quantity=0.002,
        below="0.97",
        tick="0.1",
        note=", LONG side, leverage 10",
        reduce_only=False,
        position_side="LONG",  # requires hedge_mode=True
        leverage=10,  # optional per-order adjustment
    )
    fill_offline(venue, resp, "0.001")
    show_state("polled", client.poll_order_status(resp))
    for p in client.positions([SYMBOL]):
        show("position", f"{p.symbol} {p.position_side} {p.quantity} @ {p.entry_price}")
    show_state("canceled", client.cancel_order(resp))


if __name__ == "__main__":
    sys.exit(main(run, __doc__, binance_usdm, KEYS, KEYS_ARE))
