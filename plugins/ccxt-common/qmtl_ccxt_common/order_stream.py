"""OrderStream: a ccxt brokerage's orders as the venue pushes them (``stream_orders``).

A thread runs an asyncio loop with the ccxt.pro twin of the client's exchange (same
config, credentials and environment) and awaits ``watch_orders`` without pause; each
update becomes an :class:`OrderAck` kept per order. The stream is *current* only
while it is subscribed and nothing can have been missed: after every (re)connect it
first fetches, over REST, every order it still considers open, and only then answers
for them again. While it is not current, the client polls as it does without a stream.

Which ack is newer never depends on arrival order: a complete order beats an open one
and more filled beats less (:func:`newer`), so a late REST answer cannot roll back a
pushed fill.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import ccxt
import ccxt.pro

from qmtl_ccxt_common.acks import to_ack
from qmtl_ccxt_common.config import CcxtVenueConfig
from qmtl_ccxt_common.products import Product
from qmtl_ccxt_common.venue import Venue, open_venue
from qmtl_core.errors import BrokerageError
from qmtl_core.orders import OrderAck
from qmtl_core.outage import Outage

log = logging.getLogger(__name__)

#: Orders kept per stream; the oldest complete ones go first beyond this.
MAX_ORDERS = 10_000
#: How long close() waits for the stream's thread.
STOP_TIMEOUT_SECONDS = 2.0
Fetch = Callable[[OrderAck], OrderAck]


def newer(candidate: OrderAck, known: OrderAck | None) -> bool:
    """True when ``candidate`` says more than ``known``: complete beats open, more filled
    beats less, and an equal state is not news."""
    if known is None:
        return True
    rank = (candidate.status.is_complete, candidate.filled_quantity)
    return rank > (known.status.is_complete, known.filled_quantity)


class OrderStream:
    """``stream.start()``; ``stream.current_ack(ref)`` while ``stream.current``; ``close()``.

    ``markets_from`` is the client's synchronous exchange (its markets are reused, so the
    stream makes no REST call of its own); ``fetch`` is the client's REST poll, used
    to catch up after a reconnect.
    """

    def __init__(
        self, config: CcxtVenueConfig, product: Product, markets_from: Any, fetch: Fetch
    ) -> None:
        self.venue: Venue = open_venue(config, product, library=ccxt.pro)
        self._rest = markets_from
        self._fetch = fetch
        self._acks: dict[str, OrderAck] = {}  # by venue order id
        self._ids: dict[str, str] = {}  # client order id -> venue order id
        self._changed = threading.Condition()
        self.current = False
        #: Times the stream connected and caught up (1 + reconnects).
        self.catch_ups = 0
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"qmtl-order-stream {self.venue.id}", daemon=True
        )

    def __repr__(self) -> str:
        return f"OrderStream({self.venue.id!r}, current={self.current})"

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Connect and follow the stream in the background; polls answer until it is current."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._begin(), self._loop).result(STOP_TIMEOUT_SECONDS)

    async def _begin(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._follow())

    def close(self) -> None:
        """Stop following and close the connection (the client polls from then on)."""
        if not self._thread.is_alive():
            return
        self._set_current(False)
        future = asyncio.run_coroutine_threadsafe(self._end(), self._loop)
        try:
            future.result(STOP_TIMEOUT_SECONDS)
        except Exception as exc:  # closing is best effort: the thread goes anyway
            log.debug("%s: closing the order stream: %s", self.venue.id, exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_TIMEOUT_SECONDS)
        self._loop.close()

    async def _end(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        await asyncio.wait_for(self.venue.exchange.close(), STOP_TIMEOUT_SECONDS)

    # --- what the client asks ----------------------------------------------------------

    def current_ack(self, ref: str) -> OrderAck | None:
        """The latest state of order ``ref`` (venue or client id) if the stream is current
        and knows the order; None means "poll the venue"."""
        with self._changed:
            if not self.current:
                return None
            return self._acks.get(self._ids.get(ref, ref))

    def note(self, ack: OrderAck) -> None:
        """An ack the client got over REST (placed, polled, canceled): kept unless the
        stream already knows better, so the stream can answer for this order."""
        self._store(ack)

    def wait_for_update(self, orders: Sequence[OrderAck], timeout: float) -> bool:
        """Block until the stream knows more than ``orders`` say (True at once if it
        already does) or ``timeout`` passes; False at once when not current."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.current:
                if any(newer(self._acks.get(o.id, o), o) for o in orders):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return True
                self._changed.wait(remaining)
            return False

    # --- following (the stream's loop) -------------------------------------------------

    async def _follow(self) -> None:
        exchange = self.venue.exchange
        outage: Outage | None = None
        while True:
            try:
                if not self.current:
                    await self._catch_up(exchange)
                    outage = None
                orders = await exchange.watch_orders()
                self._apply(orders)
            except asyncio.CancelledError:
                raise
            except (ccxt.NetworkError, BrokerageError) as exc:
                self._set_current(False)
                outage = outage or Outage(None, None, None, None)
                delay = outage.next_delay() or 0.0
                log.warning(
                    "%s: order stream lost (%s); polling until it is back, retry in %.2fs",
                    self.venue.id,
                    self.venue.scrub(str(exc)),
                    delay,
                )
                await asyncio.sleep(delay)
            except ccxt.BaseError as exc:
                self._set_current(False)
                self.error = exc
                log.error(
                    "%s: order stream stopped: %s; polling instead",
                    self.venue.id,
                    self.venue.scrub(str(exc)),
                )
                return

    async def _catch_up(self, exchange: Any) -> None:
        """Subscribe, then fetch every order that may have changed unseen; then current."""
        if exchange.markets is None:
            if self._rest.markets is None:
                self._rest.load_markets()
            exchange.set_markets(self._rest.markets, self._rest.currencies)
        await exchange.authenticate()  # returns once the user-data subscription is confirmed
        self._apply(list(exchange.orders or []))  # what ccxt cached before this connection
        with self._changed:
            pending = [a for a in self._acks.values() if not a.status.is_complete]
        for ack in pending:
            self._store(self._fetch(ack))
        self.catch_ups += 1
        self._set_current(True)

    def _apply(self, orders: Sequence[dict[str, Any]]) -> None:
        for order in orders:
            try:
                ack = to_ack(order)
            except BrokerageError as exc:
                log.warning("%s: unreadable order update: %s", self.venue.id, exc)
                continue
            self._store(ack)

    def _store(self, ack: OrderAck) -> None:
        with self._changed:
            if not newer(ack, self._acks.get(ack.id)):
                return
            self._acks.pop(ack.id, None)
            self._acks[ack.id] = ack
            if ack.client_order_id:
                self._ids[ack.client_order_id] = ack.id
            self._trim()
            self._changed.notify_all()

    def _trim(self) -> None:
        while len(self._acks) > MAX_ORDERS:
            oldest = next(
                (k for k, a in self._acks.items() if a.status.is_complete), next(iter(self._acks))
            )
            gone = self._acks.pop(oldest)
            self._ids.pop(gone.client_order_id, None)

    def _set_current(self, current: bool) -> None:
        with self._changed:
            self.current = current
            self._changed.notify_all()
