"""What a ccxt client remembers about its orders: the symbol and client id behind an id.

Most venues (Binance among them) need the symbol to fetch or cancel an order, and
``cancel_order(order_id)`` gets only an id. Forgetting the symbol is what made
upstream's OCO unable to cancel its sibling leg.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import NamedTuple

from qmtl_core import runtime


class OrderRef(NamedTuple):
    """The symbol and client id behind an order id (a tuple: built on every answer)."""

    symbol: str
    client_order_id: str | None


class OrderRefs:
    """Order id or client id -> :class:`OrderRef`, bounded, thread-safe."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, OrderRef] = OrderedDict()
        self._client_ids: set[str] = set()
        self._lock = threading.Lock()

    def remember(self, symbol: str, *, order_id: str | None, client_order_id: str | None) -> None:
        ref = OrderRef(symbol, client_order_id)
        entries = self._entries
        with self._lock:
            if order_id:
                entries[order_id] = ref
                entries.move_to_end(order_id)
            if client_order_id:
                entries[client_order_id] = ref
                entries.move_to_end(client_order_id)
                self._client_ids.add(client_order_id)
            # Two keys per order (its id and client id), bounded like every order cache.
            while len(entries) > 2 * runtime.MAX_COMPLETED_ORDERS:
                oldest, _ = entries.popitem(last=False)
                self._client_ids.discard(oldest)

    def get(self, key: str) -> OrderRef | None:
        with self._lock:
            return self._entries.get(key)

    def is_client_id(self, key: str) -> bool:
        with self._lock:
            return key in self._client_ids
