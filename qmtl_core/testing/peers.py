"""Loopback peers that misbehave on purpose, for tests of stops and timeouts."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def hanging_port() -> Iterator[int]:
    """A loopback TCP port whose connect hangs: its listener's backlog is already full.

    For tests that a ``stop()`` or a timeout interrupts a connection in progress.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        yield port
    finally:
        filler.close()
        listener.close()
