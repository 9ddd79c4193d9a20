"""The write-ahead order journal: durable order state shared by many processes.

``open_journal(url)`` picks the backend from the state URL (see :mod:`qmtl_core.state`):
SQLite (the default, one machine), Redis (many machines) or memory (opt-out). The send
path (:mod:`qmtl_core.journal.send`) journals every order before it leaves;
:mod:`qmtl_core.journal.reconcile` resolves what a crash left open.
"""

from __future__ import annotations

import os

from qmtl_core.journal.base import OrderJournal
from qmtl_core.journal.model import Claim, EntryState, JournalEntry, JournalEvent
from qmtl_core.state import StateURL, parse_state_url

__all__ = [
    "Claim",
    "EntryState",
    "JournalEntry",
    "JournalEvent",
    "OrderJournal",
    "open_journal",
]


def open_journal(
    url: str | StateURL, *, base_dir: str | os.PathLike[str] | None = None
) -> OrderJournal:
    """Open the journal at ``url``: ``sqlite:///path``, ``redis://host:port/db`` or
    ``memory://``. A relative SQLite path is relative to ``base_dir`` (else the current
    folder). Raises ``ConfigError`` (key ``state``) for a bad URL, an unwritable path or
    an unreachable Redis."""
    state = url if isinstance(url, StateURL) else parse_state_url(url, base_dir=base_dir)
    if state.scheme == "redis":
        from qmtl_core.journal.redis_backend import RedisJournal

        return RedisJournal(state)
    from qmtl_core.journal.sqlite_backend import SqliteJournal

    return SqliteJournal(state.url, state.path)
