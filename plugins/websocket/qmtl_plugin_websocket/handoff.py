"""The bounded, ordered hand-off from the feed's reader thread to its event loop.

At most ``capacity`` items are held (queued plus the batch being delivered); a full
hand-off blocks the reader, so it stops reading the socket and TCP pushes back on the
sender. The loop takes items in batches and is woken only when it is idle and the
reader is about to wait, which keeps cross-thread wake-ups off the per-message path.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Handoff(Generic[T]):
    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int) -> None:
        self.capacity = capacity
        self.peak = 0
        #: ``time.monotonic()`` when the first item of the last batch ``take()`` returned
        #: arrived: the feed's lag is now minus this.
        self.batch_arrived = 0.0
        self._loop = loop
        self._items: deque[T] = deque()
        self._arrived: deque[float] = deque()
        self._held = 0
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    @property
    def held(self) -> int:
        return self._held

    # --- reader thread -----------------------------------------------------------

    def put(self, item: T) -> bool:
        """Append ``item``, waiting while the hand-off is full. False once closed."""
        with self._lock:
            if self._held >= self.capacity:
                self._wake_locked()
                while self._held >= self.capacity and not self._closed:
                    self._space.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._arrived.append(time.monotonic())
            self._held += 1
            if self._held > self.peak:
                self.peak = self._held
        return True

    def flush(self) -> None:
        """Wake the loop if it waits and items are queued (the reader may block next)."""
        with self._lock:
            self._wake_locked()

    def _wake_locked(self) -> None:
        waiter = self._waiter
        if waiter is not None and (self._items or self._closed):
            self._waiter = None
            try:
                self._loop.call_soon_threadsafe(_resolve, waiter)
            except RuntimeError:  # the loop is closed: nobody will take anything again
                self._closed = True
                self._space.notify_all()

    # --- event loop --------------------------------------------------------------

    async def take(self) -> list[T]:
        """The next batch in order (at most half the capacity); empty once closed."""
        limit = max(1, self.capacity // 2)
        while True:
            with self._lock:
                if self._items:
                    items, arrived = self._items, self._arrived
                    count = min(limit, len(items))
                    self.batch_arrived = arrived[0]
                    for _ in range(count):
                        arrived.popleft()
                    return [items.popleft() for _ in range(count)]
                if self._closed:
                    return []
                waiter = self._waiter = self._loop.create_future()
            await waiter

    def done(self, count: int) -> None:
        """``count`` taken items were delivered: their room goes back to the reader."""
        with self._lock:
            self._held -= count
            self._space.notify()

    # --- either side ---------------------------------------------------------------

    def close(self) -> None:
        """Release a blocked reader and an idle loop; nothing more is accepted."""
        with self._lock:
            self._closed = True
            self._items.clear()
            self._arrived.clear()
            self._space.notify_all()
            self._wake_locked()
