"""The SQLite journal: one local file shared by every process of the machine (or, for
``memory://``, a private in-memory database).

Claims are write transactions (the write lock taken at their start), so two processes
never both see an id as free; the unique keys (``client_order_id``, the content key
with ``INSERT OR IGNORE``) make the second claimant a duplicate. A claim commits on a
connection with ``synchronous=FULL``: it is on disk before the order leaves. Outcomes
are stored off the order path (see :mod:`qmtl_core.journal.writer`): in the next
claim's transaction, or by the writer's thread on a second connection with
``synchronous=NORMAL`` (no fsync of its own): once stored, a process crash cannot lose
them (the write already reached the OS), the next claim's fsync carries them to disk,
and should a power cut lose one, the entry is still in flight and reconciliation finds
the answer at the venue. That keeps the journal at one fsync per order, and the order
path at one write.

What a claim writes is kept small, because every page a commit touches is written to
the WAL and flushed by the fsync: the entry (its row and primary key) and the event row.
Events are written by triggers on the entries table, so a claim or an outcome without a
content key is one statement: SQLite runs it as its own write transaction (the write
lock taken at its start, as ``BEGIN IMMEDIATE`` would), with no round of
``BEGIN``/``COMMIT`` calls.

Unresolved entries are found without an index that every claim and outcome would write:

- ``unknown`` entries (rare) are in a partial index;
- ``in_flight`` entries all sit at or above a *floor*, a rowid kept in
  ``qmtl_journal_floor``. New claims take the next rowid, so they are above it; a trigger
  lowers it when a ``not_placed`` entry is claimed again (its row keeps its old rowid);
  each lease renewal (and each prune) raises it to the oldest entry still in flight.
  Reading the unresolved entries scans from the floor: the orders of the last few
  seconds, plus any older one still in flight (a crashed sender's, until reconciled).
"""

# The SQL below is built only from this module's constants; values are always bound.
# ruff: noqa: S608

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from qmtl_core import runtime
from qmtl_core.journal.base import OrderJournal
from qmtl_core.journal.model import (
    UNRESOLVED,
    Claim,
    EntryState,
    JournalEntry,
    JournalEvent,
    Outcome,
    ack_from_json,
    ack_to_json,
    host_identity,
    order_from_json,
    order_to_json,
    owner_is_gone,
)
from qmtl_core.orders import Order, OrderAck
from qmtl_core.state import open_sqlite

log = logging.getLogger("qmtl_core.journal")

_UNRESOLVED_SQL = "('" + "','".join(UNRESOLVED) + "')"
# The unresolved entries: in flight (all at or above the floor) or unknown (indexed).
_UNRESOLVED_WHERE = (
    "(e.rowid >= (SELECT low_water FROM qmtl_journal_floor) "
    f"AND e.state = '{EntryState.IN_FLIGHT.value}') OR e.state = '{EntryState.UNKNOWN.value}'"
)
_EVENT_COLUMNS = "time, client_order_id, state, connector, owner, status, venue_id, reason"
# Every change of an entry's ``updated`` (a claim, an outcome, a later status) is a
# transition, and the triggers below log it as an event: the writers never do.
# Old files had indexes on ``state`` and ``created``: each cost a page write per commit.
# Statements are separated by a blank line (a trigger body holds semicolons).
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS qmtl_journal_entries (
    client_order_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    order_json TEXT NOT NULL,
    ack_json TEXT,
    connector TEXT NOT NULL,
    owner TEXT NOT NULL,
    dup_key TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);

DROP INDEX IF EXISTS qmtl_journal_by_state;

DROP INDEX IF EXISTS qmtl_journal_by_created;

DROP INDEX IF EXISTS qmtl_journal_unresolved;

CREATE INDEX IF NOT EXISTS qmtl_journal_unknown ON qmtl_journal_entries (state)
    WHERE state = '{EntryState.UNKNOWN.value}';

CREATE TABLE IF NOT EXISTS qmtl_journal_floor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    low_water INTEGER NOT NULL
);

INSERT OR IGNORE INTO qmtl_journal_floor VALUES (1, 0);

CREATE TRIGGER IF NOT EXISTS qmtl_journal_floor_on_reclaim
AFTER UPDATE OF state ON qmtl_journal_entries
WHEN NEW.state = '{EntryState.IN_FLIGHT.value}' BEGIN
    UPDATE qmtl_journal_floor SET low_water = NEW.rowid WHERE low_water > NEW.rowid;
END;

CREATE TABLE IF NOT EXISTS qmtl_journal_keys (
    dup_key TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    expires REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS qmtl_journal_events (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    client_order_id TEXT NOT NULL,
    state TEXT NOT NULL,
    connector TEXT NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT '',
    venue_id TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS qmtl_journal_owners (
    owner TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    expires REAL NOT NULL
);

CREATE TRIGGER IF NOT EXISTS qmtl_journal_event_on_claim
AFTER INSERT ON qmtl_journal_entries BEGIN
    INSERT INTO qmtl_journal_events ({_EVENT_COLUMNS})
    VALUES (NEW.updated, NEW.client_order_id, NEW.state, NEW.connector, NEW.owner, '', '',
            NEW.reason);
END;

CREATE TRIGGER IF NOT EXISTS qmtl_journal_event_on_change
AFTER UPDATE OF updated ON qmtl_journal_entries BEGIN
    INSERT INTO qmtl_journal_events ({_EVENT_COLUMNS})
    VALUES (NEW.updated, NEW.client_order_id, NEW.state, NEW.connector, NEW.owner,
            COALESCE(json_extract(NEW.ack_json, '$.status'), ''),
            COALESCE(json_extract(NEW.ack_json, '$.id'), ''), NEW.reason);
END;
"""
_ENTRY_COLUMNS = (
    "client_order_id, state, order_json, ack_json, connector, owner, dup_key, created, "
    "updated, reason"
)
_PRUNE_EVERY = 1_000
# A new id is taken, and so is one whose entry is not_placed (the venue surely has no
# such order, so it may go again); an id in any other state is held (no row changes).
_CLAIM = f"""
INSERT INTO qmtl_journal_entries ({_ENTRY_COLUMNS})
VALUES (?, '{EntryState.IN_FLIGHT.value}', ?, NULL, ?, ?, ?, ?, ?6, '')
ON CONFLICT (client_order_id) DO UPDATE SET
    state = excluded.state, order_json = excluded.order_json, ack_json = NULL,
    connector = excluded.connector, owner = excluded.owner, dup_key = excluded.dup_key,
    created = excluded.created, updated = excluded.updated, reason = ''
WHERE state = '{EntryState.NOT_PLACED.value}'
"""
_RECORD = (
    "UPDATE qmtl_journal_entries SET state = ?, ack_json = COALESCE(?, ack_json), "
    "updated = ?, reason = ? WHERE client_order_id = ?"
)
# The floor rises to the oldest entry still in flight (or past the newest entry).
_RAISE_FLOOR = f"""
UPDATE qmtl_journal_floor SET low_water = COALESCE(
    (SELECT min(rowid) FROM qmtl_journal_entries
     WHERE rowid >= qmtl_journal_floor.low_water AND state = '{EntryState.IN_FLIGHT.value}'),
    (SELECT COALESCE(max(rowid), 0) + 1 FROM qmtl_journal_entries))
"""
_FREE_KEY = (
    "DELETE FROM qmtl_journal_keys WHERE client_order_id = ?1 AND dup_key = "
    "(SELECT dup_key FROM qmtl_journal_entries WHERE client_order_id = ?1)"
)


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    coid, state, order_json, ack_json, connector, owner, key, created, updated, reason = row
    return JournalEntry(
        client_order_id=coid,
        state=state,
        order=order_from_json(order_json),
        ack=ack_from_json(ack_json),
        connector=connector,
        owner=owner,
        key=key,
        created=created,
        updated=updated,
        reason=reason,
    )


def _find(cur: sqlite3.Cursor, coid_sql: str, arg: str) -> JournalEntry | None:
    """The entry whose ``client_order_id`` is ``coid_sql`` (bound to ``arg``), if any."""
    row = cur.execute(
        f"SELECT {_ENTRY_COLUMNS} FROM qmtl_journal_entries WHERE client_order_id = {coid_sql}",
        (arg,),
    ).fetchone()
    return None if row is None else _entry(row)


def _held(entry: JournalEntry | None) -> JournalEntry:
    assert entry is not None, "a conflicting claim always has an entry"
    return entry


def _update(outcome: Outcome) -> tuple[Any, ...]:
    """The parameters of :data:`_RECORD` for ``outcome``."""
    ack = outcome.ack
    return (
        outcome.state.value,
        ack and ack_to_json(ack),
        outcome.time,
        outcome.reason,
        outcome.client_order_id,
    )


def _write_outcomes(cur: sqlite3.Cursor, outcomes: list[Outcome]) -> None:
    """Store ``outcomes`` in the transaction of ``cur``; a ``not_placed`` one frees its
    entry's content key, if it holds one. (A claim carries one or two: ``execute`` each
    costs less than building ``executemany``'s parameter lists.)"""
    for outcome in outcomes:
        cur.execute(_RECORD, _update(outcome))
        if outcome.state is EntryState.NOT_PLACED:
            cur.execute(_FREE_KEY, (outcome.client_order_id,))


class _Held(Exception):
    """Raised inside a claim's transaction to roll it back: ``entry`` holds the intent."""

    def __init__(self, entry: JournalEntry | None) -> None:
        super().__init__(entry)
        self.entry = _held(entry)


class _Transaction:
    """A write transaction under the journal's lock: ``with`` gives its cursor, commits
    when the block ends, rolls back when it raises. A class rather than a generator
    context manager: the claim of every order runs one."""

    __slots__ = ("_conn", "_cur", "_lock")

    def __init__(self, lock: threading.Lock, conn: sqlite3.Connection) -> None:
        self._lock = lock
        self._conn = conn

    def __enter__(self) -> sqlite3.Cursor:
        self._lock.acquire()
        try:
            self._cur = self._conn.cursor()
            self._cur.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._cur

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self._cur.execute("COMMIT")
            elif self._conn.in_transaction:  # SQLite may have rolled back by itself
                self._cur.execute("ROLLBACK")
        finally:
            self._lock.release()


class SqliteJournal(OrderJournal):
    """The journal in a SQLite database: a file (``sqlite:///...``) or memory."""

    def __init__(self, url: str, path: Path | None) -> None:
        on_disk = path is not None
        super().__init__(url, renew_lease=on_disk, background_outcomes=on_disk)
        self._memory = path is None
        if path is None:
            self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self._outcomes = self._conn
        else:
            self._conn = open_sqlite(path)  # synchronous=FULL: claims
            self._outcomes = open_sqlite(path)
            self._outcomes.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()
        self._claims = 0
        with self._transaction(durable=True) as cur:
            for statement in _SCHEMA.split("\n\n"):
                if statement.strip():
                    cur.execute(statement)
        self._start()

    def _transaction(self, *, durable: bool) -> _Transaction:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or rollback), fsynced when ``durable``."""
        return _Transaction(self._lock, self._conn if durable else self._outcomes)

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # --- reading -------------------------------------------------------------------

    def _get(self, client_order_id: str) -> JournalEntry | None:
        rows = self._read(
            f"SELECT {_ENTRY_COLUMNS} FROM qmtl_journal_entries WHERE client_order_id = ?",
            (client_order_id,),
        )
        return _entry(rows[0]) if rows else None

    def _entries(self, state: EntryState | None) -> list[JournalEntry]:
        if state is None:
            rows = self._read(
                f"SELECT {_ENTRY_COLUMNS} FROM qmtl_journal_entries ORDER BY created, rowid"
            )
        else:
            rows = self._read(
                f"SELECT {_ENTRY_COLUMNS} FROM qmtl_journal_entries WHERE state = ? "
                "ORDER BY created, rowid",
                (state.value,),
            )
        return [_entry(row) for row in rows]

    def _events(self, after: str | None, limit: int) -> list[JournalEvent]:
        rows = self._read(
            f"SELECT id, {_EVENT_COLUMNS} FROM qmtl_journal_events "
            "WHERE id > ? ORDER BY id LIMIT ?",
            (int(after) if after else 0, limit),
        )
        return [JournalEvent(str(row[0]), *row[1:]) for row in rows]

    # --- the send path -----------------------------------------------------------------

    def _claim(
        self,
        order: Order,
        *,
        connector: str,
        key: str | None,
        key_ttl: float | None,
        outcomes: list[Outcome],
    ) -> Claim:
        coid = order.client_order_id
        now = time.time()
        row = (coid, order_to_json(order), connector, self.owner, key, now)
        if key is None and not outcomes:  # one statement: its own durable transaction
            with self._lock:
                if self._conn.execute(_CLAIM, row).rowcount == 0:  # the id is held
                    return Claim(False, _held(_find(self._conn.cursor(), "?", coid)))
        elif key is None:  # the outcomes, then a claim that writes nothing when held
            with self._transaction(durable=True) as cur:
                _write_outcomes(cur, outcomes)
                if cur.execute(_CLAIM, row).rowcount == 0:
                    return Claim(False, _held(_find(cur, "?", coid)))
        else:  # the claim and its key stand or fall together; the outcomes stay
            with self._transaction(durable=True) as cur:
                _write_outcomes(cur, outcomes)
                cur.execute("SAVEPOINT qmtl_claim")
                try:
                    if cur.execute(_CLAIM, row).rowcount == 0:
                        raise _Held(_find(cur, "?", coid))
                    self._take_key(cur, key, coid, now, now + (key_ttl or 0.0))
                except _Held as held:  # nothing of this claim stays; the outcomes do
                    cur.execute("ROLLBACK TO qmtl_claim")
                    return Claim(False, held.entry)
        self._claims += 1
        if self._claims % _PRUNE_EVERY == 0:
            try:
                self._prune()
            except Exception:  # housekeeping: the claim stands, the next prune retries
                log.exception("order journal %s: pruning failed", self)
        return Claim(
            True,
            JournalEntry(
                coid, EntryState.IN_FLIGHT.value, order, None, connector, self.owner, key, now, now
            ),
        )

    @staticmethod
    def _take_key(cur: sqlite3.Cursor, key: str, coid: str, now: float, expires: float) -> None:
        """Take the content ``key`` for ``coid``; raise :class:`_Held` if a live entry has it."""
        cur.execute("DELETE FROM qmtl_journal_keys WHERE dup_key = ? AND expires <= ?", (key, now))
        cur.execute(
            "INSERT OR IGNORE INTO qmtl_journal_keys VALUES (?, ?, ?)", (key, coid, expires)
        )
        if cur.rowcount == 1:
            return
        holder = _find(
            cur,
            "(SELECT client_order_id FROM qmtl_journal_keys WHERE dup_key = ?)",
            key,
        )
        if holder is not None:
            raise _Held(holder)
        cur.execute(  # the holder was pruned: the key is free
            "UPDATE qmtl_journal_keys SET client_order_id = ?, expires = ? WHERE dup_key = ?",
            (coid, expires, key),
        )

    def _store_outcomes(self, outcomes: list[Outcome]) -> None:
        if len(outcomes) == 1 and outcomes[0].state is not EntryState.NOT_PLACED:
            with self._lock:  # one statement: its own transaction
                self._outcomes.execute(_RECORD, _update(outcomes[0]))
            return
        with self._transaction(durable=False) as cur:
            _write_outcomes(cur, outcomes)

    def _observe(self, ack: OrderAck) -> None:
        with self._transaction(durable=False) as cur:
            row = cur.execute(
                "SELECT state, ack_json FROM qmtl_journal_entries WHERE client_order_id = ?",
                (ack.client_order_id,),
            ).fetchone()
            if row is None:
                return
            state, ack_json = row
            known = ack_from_json(ack_json)
            if (
                state == EntryState.ACKNOWLEDGED
                and known is not None
                and (known.status, known.filled_quantity) == (ack.status, ack.filled_quantity)
            ):
                return
            now = time.time()
            cur.execute(
                "UPDATE qmtl_journal_entries SET state = ?, ack_json = ?, updated = ?, "
                "reason = '' WHERE client_order_id = ?",
                (EntryState.ACKNOWLEDGED.value, ack_to_json(ack), now, ack.client_order_id),
            )

    # --- ownership -------------------------------------------------------------------

    def _unresolved(self, connector: str | None) -> list[tuple[JournalEntry, bool]]:
        sql = (
            f"SELECT {', '.join('e.' + c.strip() for c in _ENTRY_COLUMNS.split(','))}, "
            "o.host, o.pid, o.expires FROM qmtl_journal_entries e "
            "LEFT JOIN qmtl_journal_owners o ON o.owner = e.owner "
            f"WHERE ({_UNRESOLVED_WHERE})"
        )
        args: tuple[Any, ...] = ()
        if connector is not None:
            sql += " AND e.connector = ?"
            args = (connector,)
        now = time.time()
        out = []
        for row in self._read(sql + " ORDER BY e.created", args):
            host, pid, expires = row[10:]
            gone = host is None or owner_is_gone(host, pid, expires, now)
            out.append((_entry(row[:10]), gone))
        return out

    def _unresolved_count(self) -> int:
        rows = self._read(  # a scan from the floor, and the unknown entries' index
            f"SELECT count(*) FROM qmtl_journal_entries e WHERE {_UNRESOLVED_WHERE}"
        )
        return int(rows[0][0])

    def _adopt(self, client_order_id: str, previous_owner: str) -> bool:
        with self._transaction(durable=False) as cur:
            cur.execute(
                "UPDATE qmtl_journal_entries SET owner = ? WHERE client_order_id = ? "
                f"AND owner = ? AND state IN {_UNRESOLVED_SQL}",
                (self.owner, client_order_id, previous_owner),
            )
            return cur.rowcount == 1

    def _renew_lease(self, seconds: float) -> None:
        with self._transaction(durable=False) as cur:
            cur.execute(
                "INSERT OR REPLACE INTO qmtl_journal_owners VALUES (?, ?, ?, ?)",
                (self.owner, host_identity(), os.getpid(), time.time() + seconds),
            )
            cur.execute(_RAISE_FLOOR)

    def _release_lease(self) -> None:
        with self._transaction(durable=False) as cur:
            cur.execute("DELETE FROM qmtl_journal_owners WHERE owner = ?", (self.owner,))

    def _prune(self) -> None:
        """Drop expired content keys and raise the floor; in memory, also the oldest
        resolved entries and events beyond ``runtime.MAX_COMPLETED_ORDERS``, so a long
        run stays bounded."""
        with self._transaction(durable=False) as cur:
            cur.execute("DELETE FROM qmtl_journal_keys WHERE expires <= ?", (time.time(),))
            cur.execute(_RAISE_FLOOR)
            if not self._memory:
                return
            cur.execute(
                "DELETE FROM qmtl_journal_entries WHERE client_order_id IN ("
                "SELECT client_order_id FROM qmtl_journal_entries "
                f"WHERE state NOT IN {_UNRESOLVED_SQL} ORDER BY rowid DESC LIMIT -1 OFFSET ?)",
                (runtime.MAX_COMPLETED_ORDERS,),
            )
            cur.execute(
                "DELETE FROM qmtl_journal_events WHERE id <= "
                "(SELECT MAX(id) FROM qmtl_journal_events) - ?",
                (runtime.MAX_COMPLETED_ORDERS,),
            )

    def _close_store(self) -> None:
        with self._lock:
            self._conn.close()
            self._outcomes.close()
