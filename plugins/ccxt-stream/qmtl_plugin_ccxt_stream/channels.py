"""One stream per symbol and channel: how to wait on ccxt.pro, and what is new in its cache.

ccxt.pro's ``watch_*`` calls return only when a new frame arrives, and what arrived in
between sits in the exchange's caches (``trades``, ``orderbooks``, ``ohlcvs``,
``tickers``). A :class:`Stream` therefore reads the cache for everything it has not
delivered yet and waits on ccxt only when there is nothing: no message waits for a
later frame, however long the consumer took.

Messages carry exact ``Decimal`` prices and amounts (ccxt parses numbers to floats; the
shortest decimal that round-trips a float is the venue's own text for any price of up
to 15 significant digits) and ``timestamp`` in milliseconds since the epoch (UTC).
An ``order`` message is a brokerage ack (ccxt-common's :func:`to_ack`, the conversion
the ccxt brokerages use) with the feed's common keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

from qmtl_ccxt_common.acks import to_ack
from qmtl_core.errors import BrokerageError

Message = dict[str, Any]
#: The ack fields an ``order`` message carries (besides event, exchange, symbol, timestamp).
ORDER_FIELDS = ("id", "client_order_id", "status", "filled_quantity", "average_price")


def decimal(value: Any) -> Decimal | None:
    """A ccxt number as an exact Decimal (None stays None)."""
    if value is None:
        return None
    return Decimal(str(value))


class Stream:
    """One symbol on one channel of one ccxt.pro exchange."""

    def __init__(self, exchange: Any, symbol: str, channel: str, timeframe: str | None) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.channel = channel
        self.timeframe = timeframe
        self._last: Any = None  # the last cache entry delivered (identity)
        self._last_key: Any = None  # its nonce / bar time
        #: Entries ccxt parsed from a frame without the numbers a message needs: skipped.
        self.incomplete = 0
        #: orders: what was delivered per order id, (status, filled, average), oldest first.
        self._orders_seen: dict[str, tuple[Any, ...]] = {}

    def __repr__(self) -> str:
        suffix = f":{self.timeframe}" if self.timeframe else ""
        return f"{self.symbol} {self.channel}{suffix}"

    def wait(self) -> Awaitable[Any]:
        """The ccxt.pro call that returns when the next frame of this stream arrives."""
        ex, symbol = self.exchange, self.symbol
        waits: dict[str, Callable[[], Awaitable[Any]]] = {
            "trades": lambda: ex.watch_trades(symbol),
            "order_book": lambda: ex.watch_order_book(symbol),
            "ohlcv": lambda: ex.watch_ohlcv(symbol, self.timeframe),
            "ticker": lambda: ex.watch_ticker(symbol),
            "orders": lambda: ex.watch_orders(symbol),
        }
        return waits[self.channel]()

    def fresh(self, depth: int, closed_bars: set[int]) -> Iterator[Message]:
        """Messages for what ccxt cached since the last call, oldest first."""
        readers: dict[str, Callable[[], Iterator[Message]]] = {
            "trades": self._trades,
            "order_book": lambda: self._order_book(depth),
            "ohlcv": lambda: self._bars(closed_bars),
            "ticker": self._ticker,
            "orders": self._orders,
        }
        return readers[self.channel]()

    def _base(self, event: str, timestamp: Any) -> Message:
        return {
            "event": event,
            "exchange": self.exchange.id,
            "symbol": self.symbol,
            "timestamp": int(timestamp) if timestamp is not None else self.exchange.milliseconds(),
        }

    def _trades(self) -> Iterator[Message]:
        cache = self.exchange.trades.get(self.symbol)
        if not cache:
            return
        new: list[Any] = []
        for trade in reversed(cache):
            if trade is self._last:
                break
            new.append(trade)
        if not new:
            return
        self._last = new[0]
        for trade in reversed(new):
            price, amount = decimal(trade.get("price")), decimal(trade.get("amount"))
            if price is None or amount is None:
                self.incomplete += 1
                continue
            message = self._base("trade", trade.get("timestamp"))
            message["id"] = trade.get("id")
            message["price"] = price
            message["amount"] = amount
            message["side"] = trade.get("side")
            yield message

    def _order_book(self, depth: int) -> Iterator[Message]:
        book = self.exchange.orderbooks.get(self.symbol)
        if book is None:
            return
        nonce = book["nonce"]
        # No nonce: ccxt is between a (re)subscription and its snapshot; nothing consistent yet.
        if nonce is None or (book is self._last and nonce == self._last_key):
            return
        self._last, self._last_key = book, nonce
        message = self._base("order_book", book["timestamp"])
        message["bids"] = [[decimal(p), decimal(a)] for p, a in book["bids"][:depth]]
        message["asks"] = [[decimal(p), decimal(a)] for p, a in book["asks"][:depth]]
        message["nonce"] = nonce
        yield message

    def _bars(self, closed_bars: set[int]) -> Iterator[Message]:
        bars = self.exchange.ohlcvs.get(self.symbol, {}).get(self.timeframe)
        if not bars:
            return
        newest = bars[-1][0]
        after = self._last_key if self._last_key is not None else -1
        for bar in bars:
            opened = bar[0]
            # A bar is closed once a later one opened, or when the venue said so.
            if opened <= after or (opened == newest and opened not in closed_bars):
                continue
            self._last_key = opened
            message = self._base("ohlcv", opened)
            message["timeframe"] = self.timeframe
            for name, value in zip(
                ("open", "high", "low", "close", "volume"), bar[1:6], strict=True
            ):
                message[name] = decimal(value)
            yield message

    def _ticker(self) -> Iterator[Message]:
        ticker = self.exchange.tickers.get(self.symbol)
        if ticker is None or ticker is self._last:
            return
        self._last = ticker
        message = self._base("ticker", ticker.get("timestamp"))
        for name in ("bid", "ask", "last"):
            message[name] = decimal(ticker.get(name))
        yield message

    def _orders(self) -> Iterator[Message]:
        """Orders of this symbol whose ack changed since delivered.

        ccxt updates a cached order in place and moves it to the end of its cache, and
        the feed reads the cache after every frame: what changed is at the end, so the
        scan stops at the first order of this symbol that did not change.
        """
        cache = self.exchange.orders
        if not cache:
            return
        changed: list[tuple[Any, Any]] = []
        for order in reversed(cache):
            if order.get("symbol") != self.symbol:
                continue
            try:
                ack = to_ack(order, symbol=self.symbol)
            except BrokerageError:  # no id or an unknown status: not an ack
                self.incomplete += 1
                continue
            state = (ack.status, ack.filled_quantity, ack.average_price)
            if self._orders_seen.get(ack.id) == state:
                break
            changed.append((order, ack))
        seen = self._orders_seen
        for order, ack in reversed(changed):
            seen.pop(ack.id, None)
            seen[ack.id] = (ack.status, ack.filled_quantity, ack.average_price)
            stamp = order.get("lastUpdateTimestamp") or order.get("timestamp")
            message = self._base("order", stamp)
            for name in ORDER_FIELDS:
                message[name] = ack[name]
            yield message
        while len(seen) > len(cache):  # orders ccxt let go of (its cache is bounded)
            del seen[next(iter(seen))]
