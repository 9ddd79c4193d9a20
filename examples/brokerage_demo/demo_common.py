"""What the ccxt Binance demos share: the command line, the keys, the order, the output.

A demo writes ``run(api_key, secret, venue)`` (``venue`` is the recorded venue under
``--offline``, None on the real venue) and hands it to :func:`main`, which parses
``--offline``, serves the recording or reads the keys from the environment (refusing
to start without them), and returns the exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

from qmtl_ccxt_common.recorded import OFFLINE_API_KEY, OFFLINE_SECRET, BinanceReplay
from qmtl_core.orders import OrderAck
from qmtl_plugin_ccxt_spot.client import CcxtBrokerageClient

SYMBOL = "BTC/USDT"


def main(
    run: Callable[[str, str, BinanceReplay | None], None],
    doc: str,
    recorded: Callable[[], AbstractContextManager[BinanceReplay]],
    keys: tuple[str, str],
    keys_are: str,
) -> int:
    """Run the demo as the command line asks.

    ``doc``'s first line describes the command; ``recorded()`` serves the recording
    for ``--offline``; ``keys`` name the variables that hold the real venue's key and
    secret, and ``keys_are`` says which keys (and where to get them).
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--offline", action="store_true", help="run on recorded answers")
    args = parser.parse_args()
    if args.offline:
        with recorded() as venue:
            run(OFFLINE_API_KEY, OFFLINE_SECRET, venue)
        return 0
    key_env, secret_env = keys
    api_key, secret = os.environ.get(key_env), os.environ.get(secret_env)
    if not api_key or not secret:
        print(
            f"refusing to run: set {key_env} and {secret_env} to {keys_are}, "
            "or pass --offline to use recorded answers",
            file=sys.stderr,
        )
        return 2
    run(api_key, secret, None)
    return 0


def show(label: str, text: str) -> None:
    """One output line: ``label`` in a column of its own, then ``text``."""
    print(f"{label:<8} {text}")


def show_state(label: str, ack: OrderAck) -> None:
    show(label, f"status={ack.status} filled={ack.filled_quantity}")


def place_resting_buy(
    client: CcxtBrokerageClient,
    *,
    quantity: float,
    below: str,
    tick: str,
    note: str,
    **fields: Any,
) -> OrderAck:
    """Buy ``quantity`` of SYMBOL with a GTC limit at ``below`` times the last price.

    The limit is rounded to ``tick``; ``fields`` add to the order; ``note`` ends the
    line that shows the limit.
    """
    last = Decimal(str(client.exchange.fetch_ticker(SYMBOL)["last"]))
    price = (last * Decimal(below)).quantize(Decimal(tick))
    ack = client.post_order(
        {
            "symbol": SYMBOL,
            "side": "BUY",
            "type": "limit",
            "quantity": quantity,
            "limit_price": price,
            "time_in_force": "GTC",
            **fields,
        }
    )
    show("placed", f"id={ack.id} client_order_id={ack.client_order_id} status={ack.status}")
    show("", f"limit {price} below the last price {last}{note}")
    return ack


def fill_offline(venue: BinanceReplay | None, ack: OrderAck, quantity: str) -> None:
    """Offline, let the recorded market trade ``quantity`` through the order."""
    if venue is not None:
        venue.fill(ack.client_order_id, quantity)
        show("offline", f"the recorded market trades {quantity} through the order")
