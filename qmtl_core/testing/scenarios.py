"""Small tools for async feed tests that run their own event loop (no async test plugin)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
Messages = list[dict[str, Any]]


def run_with_deadline(scenario: Awaitable[T], timeout: float = 30.0) -> T:
    """Run ``scenario`` on a new event loop; a scenario past ``timeout`` seconds fails
    with ``TimeoutError`` instead of hanging the suite."""
    return asyncio.run(asyncio.wait_for(scenario, timeout))


def collect_messages() -> tuple[Messages, Callable[[dict[str, Any]], Awaitable[None]]]:
    """A list and an async ``on_message`` that appends every message to it, in order."""
    received: Messages = []

    async def on_message(message: dict[str, Any]) -> None:
        received.append(message)

    return received, on_message
