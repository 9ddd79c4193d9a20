"""The ordered hand-off from ccxt's frame handling to ``on_message`` (one event loop).

Messages are put as ccxt handles each frame; the feed holds back ccxt's socket reads
while ``capacity`` are held (:meth:`room`), so a slow consumer pushes back on the venue
through TCP instead of growing memory. The bound is ``capacity`` plus what one socket
read already buffered (ccxt handles a buffered batch of frames at once).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Outbox(Generic[T]):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.peak = 0
        self._items: deque[T] = deque()
        self._has_items = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()

    @property
    def held(self) -> int:
        return len(self._items)

    async def room(self) -> None:
        """Return once fewer than ``capacity`` items are held (socket reads wait here)."""
        while len(self._items) >= self.capacity:
            self._has_room.clear()
            await self._has_room.wait()

    def put(self, item: T) -> None:
        """Append ``item``; the reads that produced it were admitted by :meth:`room`."""
        self._items.append(item)
        self.peak = max(self.peak, len(self._items))
        self._has_items.set()

    async def take(self) -> T:
        """The oldest item, waiting for one."""
        while not self._items:
            self._has_items.clear()
            await self._has_items.wait()
        item = self._items.popleft()
        if len(self._items) < self.capacity:
            self._has_room.set()
        return item
