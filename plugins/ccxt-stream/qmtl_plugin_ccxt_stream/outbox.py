"""The bounded, ordered hand-off from the stream watchers to ``on_message`` (one loop).

Watchers ``put`` messages and wait while ``capacity`` are held; the feed also holds
back ccxt's socket reads while it is full (:meth:`room`), so a slow consumer pushes
back on the venue through TCP instead of growing memory. Markers (a reconnect, a
failure) are never refused: they are few, and must keep their place in the order.
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
        """Return once fewer than ``capacity`` items are held."""
        while len(self._items) >= self.capacity:
            self._has_room.clear()
            await self._has_room.wait()

    async def put(self, item: T) -> None:
        """Append ``item`` once there is room."""
        if len(self._items) >= self.capacity:
            await self.room()
        self.force(item)

    def force(self, item: T) -> None:
        """Append ``item`` even when full (markers only)."""
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
