"""Where a rate budget's counters live: this process, a SQLite file, or a Redis server.

Each store does every step (take, observe, block) atomically on its own clock:

- :class:`MemoryStore`: one per process, under a lock (``memory://``);
- :class:`SqliteStore`: one ``BEGIN IMMEDIATE`` transaction per step, so processes on
  one machine serialise on SQLite's write lock and never read-then-write apart;
- :class:`RedisStore`: one Lua script per step, run on the Redis server with the
  server's ``TIME``, so machines with different clocks still cut the same windows.

Counters are keyed by account, pool, interval and window index; a counter expires
once its window is over, and a block key holds the time a 429/418 ends.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from qmtl_core.rate_budget import (
    BLOCKED,
    GRANTED,
    BudgetStore,
    Charge,
    RateBudget,
    Report,
    Take,
)
from qmtl_core.rate_limits import DEFAULT_MAX_WAIT_SECONDS, Limit
from qmtl_core.state import StateURL, open_redis, open_sqlite, parse_state_url

if TYPE_CHECKING:
    import sqlite3

    from qmtl_core.redis_scripts import Packed

#: Extra life of a counter past its window, so a late reader still finds it.
EXPIRY_SLACK_SECONDS = 1.0
#: Packed take commands a Redis store keeps (one per account, pool set and costs).
PACKED_TAKES_KEPT = 256
#: Lanes a memory store keeps (one per charges list and per reported pool; see ``_Lane``).
LANES_KEPT = 256
#: Seconds a lane stops short of its bounds, so float rounding at a bound can never
#: put a lane's window apart from the one :func:`_take` or :func:`_observe` computes.
LANE_GUARD_SECONDS = 1e-3


#: A counter's key: (account, pool, interval, window), or (account, "blocked"). A tuple,
#: not text, so the memory store builds nothing per take; SQLite stores it as text.
Key = tuple[str | int, ...]


def _text_key(key: Key) -> str:
    """``key`` as SQLite stores it: its parts joined by the unit separator."""
    return "\x1f".join(map(str, key))


class _Counters(Protocol):
    """The operations the shared algorithm needs, inside one atomic step."""

    def get(self, key: Key) -> float: ...

    def add(self, writes: list[tuple[Key, int, float]]) -> None:
        """Add each ``(key, cost, expires)``'s cost to its counter."""
        ...

    def raise_to(self, writes: list[tuple[Key, float, float]]) -> None:
        """Raise each ``(key, value, expires)``'s counter to its value (never lower it)."""
        ...


def _take(
    counters: _Counters, account: str, charges: list[Charge], margin: float, t: float
) -> Take:
    """The grant decision (memory and SQLite; the Redis script is the same in Lua)."""
    get = counters.get
    until = get((account, BLOCKED))
    if until > t:
        return Take(False, until - t, BLOCKED)
    wait, refused = 0.0, None
    writes: list[tuple[Key, int, float]] = []
    for pool, cost, limit in charges:
        interval = limit.interval
        # The windows a grant at ``t`` may land in: one, or two within ``margin`` of an edge.
        window = math.floor((t - margin) / interval)
        last = math.floor((t + margin) / interval)
        while window <= last:
            key = (account, pool, interval, window)
            window += 1
            end = window * interval + margin
            if get(key) + cost > limit.limit and end - t > wait:
                wait, refused = end - t, pool
            writes.append((key, cost, end + EXPIRY_SLACK_SECONDS))
    if refused is not None:
        return Take(False, wait, refused)
    counters.add(writes)
    return GRANTED


def _observe(
    counters: _Counters, account: str, reports: list[Report], margin: float, t: float
) -> None:
    writes: list[tuple[Key, float, float]] = []
    for pool, limit, used in reports:
        interval = limit.interval
        window = math.floor(t / interval)
        start = window * interval
        if t - start < margin:
            continue  # the venue may have counted this in the window that just ended
        end = start + interval + margin + EXPIRY_SLACK_SECONDS
        writes.append(((account, pool, interval, window), used, end))
    if writes:
        counters.raise_to(writes)


def _used(counters: _Counters, account: str, pool: str, limit: Limit, t: float) -> float:
    return counters.get((account, pool, limit.interval, math.floor(t / limit.interval)))


class _Dict:
    def __init__(self) -> None:
        #: key -> [value, expiry] (a list: raised in place, not rebuilt per take).
        self.values: dict[Key, list[float]] = {}
        #: The earliest expiry of any counter: nothing to :meth:`expire` before it.
        self.next_expiry = math.inf

    def get(self, key: Key) -> float:
        entry = self.values.get(key)
        return 0.0 if entry is None else entry[0]

    def add(self, writes: list[tuple[Key, int, float]]) -> None:
        self._write(writes, add=True)

    def raise_to(self, writes: list[tuple[Key, float, float]]) -> None:
        self._write(writes, add=False)

    def _write(self, writes: Sequence[tuple[Key, float, float]], *, add: bool) -> None:
        values = self.values
        for key, value, expires in writes:
            entry = values.get(key)
            if entry is None:
                values[key] = [value, expires]
                if expires < self.next_expiry:
                    self.next_expiry = expires
                continue
            if add:
                entry[0] += value
            elif value > entry[0]:
                entry[0] = value
            if expires > entry[1]:
                entry[1] = expires

    def expire(self, t: float) -> None:
        """Forget the counters whose windows (and slack) ended before ``t``."""
        for key in [k for k, (_, expires) in self.values.items() if expires < t]:
            del self.values[key]
        self.next_expiry = min((expires for _, expires in self.values.values()), default=math.inf)


@dataclass(frozen=True, slots=True)
class _Lane:
    """A shortcut through the shared algorithm while ``start <= t < end`` (venue time).

    No window edge (margin included) lies in that span for any of its pools, so every
    step in it touches the same counters: ``entries`` holds them, each with its cost
    (or reported usage) and limit. The counters outlive ``end`` (they expire after
    their window), and a block or a clear drops every lane, so a lane's entries are the
    live ones. ``of`` is what the lane was made for: a take's charges list (kept by
    identity), or a report's ``(account, pool, interval)``."""

    of: object
    account: str
    margin: float
    start: float
    end: float
    entries: tuple[tuple[list[float], float, int], ...]


class MemoryStore:
    """Counters in this process only: clients of one account in one process share them.

    Almost every step falls well inside the current windows of its pools. The first
    step there runs the shared algorithm and leaves a :class:`_Lane`; the next ones
    compare and add (or raise) on the lane's counters directly, and anything else
    (an edge, a refusal, a rolled-over window, a block) goes the shared way again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters = _Dict()
        #: id(charges) -> the lane of a take; (account, pool, interval) -> of a report.
        self._lanes: dict[object, _Lane] = {}

    def now(self) -> float:
        return time.time()

    def take(self, account: str, charges: list[Charge], margin: float, offset: float) -> Take:
        with self._lock:
            counters = self._counters
            t = time.time() + offset
            if t > counters.next_expiry:  # some counter's window is over
                counters.expire(t)
            lane = self._lanes.get(id(charges))
            if (
                lane is not None
                and lane.of is charges
                and lane.start <= t < lane.end
                and lane.account == account
                and lane.margin == margin
            ):
                entries = lane.entries
                for entry, cost, limit in entries:
                    if entry[0] + cost > limit:
                        break  # refused: the shared way says for how long
                else:
                    for entry, cost, _ in entries:
                        entry[0] += cost
                    return GRANTED
            take = _take(counters, account, charges, margin, t)
            if take.granted:
                self._keep_lane(id(charges), charges, account, margin, margin, t, charges)
            return take

    def observe(self, account: str, reports: list[Report], margin: float, offset: float) -> None:
        with self._lock:
            t = time.time() + offset
            lanes = self._lanes
            missed: list[Report] = []
            for report in reports:
                pool, limit, used = report
                lane = lanes.get((account, pool, limit.interval))
                if lane is not None and lane.start <= t < lane.end and lane.margin == margin:
                    entry = lane.entries[0][0]
                    if used > entry[0]:
                        entry[0] = used
                else:
                    missed.append(report)
            if missed:
                _observe(self._counters, account, missed, margin, t)
                for pool, limit, used in missed:
                    key = (account, pool, limit.interval)
                    self._keep_lane(key, key, account, margin, 0.0, t, [(pool, used, limit)])

    def _keep_lane(
        self,
        key: object,
        of: object,
        account: str,
        margin: float,
        tail: float,
        t: float,
        pools: Sequence[tuple[str, float, Limit]],
    ) -> None:
        """Leave a lane for steps like the one just made at ``t`` on ``pools``' current
        windows (pool, cost, limit): from ``margin`` after each window's start to ``tail``
        before its end, if ``t`` is in that span and every counter exists."""
        start, end = -math.inf, math.inf
        entries: list[tuple[list[float], float, int]] = []
        values = self._counters.values
        for pool, cost, limit in pools:
            interval = limit.interval
            window = math.floor(t / interval)
            entry = values.get((account, pool, interval, window))
            if entry is None:
                return
            start = max(start, window * interval + margin + LANE_GUARD_SECONDS)
            end = min(end, (window + 1) * interval - tail - LANE_GUARD_SECONDS)
            entries.append((entry, cost, limit.limit))
        if start <= t < end:
            if len(self._lanes) >= LANES_KEPT:
                self._lanes.clear()
            self._lanes[key] = _Lane(of, account, margin, start, end, tuple(entries))

    def block(self, account: str, seconds: float, offset: float) -> None:
        with self._lock:
            until = time.time() + offset + seconds
            self._counters.raise_to([((account, BLOCKED), until, until)])
            self._lanes.clear()  # a take's lane assumed no block

    def used(self, account: str, pool: str, limit: Limit, offset: float) -> float:
        with self._lock:
            return _used(self._counters, account, pool, limit, time.time() + offset)

    def clear(self) -> None:
        """Forget every count and block (tests: each starts with a fresh process)."""
        with self._lock:
            self._counters = _Dict()
            self._lanes = {}

    def close(self) -> None:
        """Nothing to release: the counters belong to the process."""


#: The process-wide memory store behind ``memory://`` budgets.
MEMORY = MemoryStore()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS qmtl_rate_budget (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS qmtl_rate_budget_expires ON qmtl_rate_budget (expires);
"""


_UPSERT = (
    "INSERT INTO qmtl_rate_budget (key, value, expires) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET expires = max(expires, excluded.expires), value = "
)
_ADD = _UPSERT + "value + excluded.value"
_RAISE = _UPSERT + "max(value, excluded.value)"


class _Rows:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def get(self, key: Key) -> float:
        row = self.conn.execute(
            "SELECT value FROM qmtl_rate_budget WHERE key = ?", (_text_key(key),)
        )
        found = row.fetchone()
        return float(found[0]) if found else 0.0

    def add(self, writes: list[tuple[Key, int, float]]) -> None:
        self._write(_ADD, writes)

    def raise_to(self, writes: list[tuple[Key, float, float]]) -> None:
        self._write(_RAISE, writes)

    def _write(self, sql: str, writes: Sequence[tuple[Key, float, float]]) -> None:
        self.conn.executemany(
            sql, [(_text_key(key), value, expires) for key, value, expires in writes]
        )


class SqliteStore:
    """Counters in a SQLite file, one ``BEGIN IMMEDIATE`` transaction per step.

    The budget's connection commits with ``synchronous=NORMAL``: in WAL mode a commit
    is then atomic and ordered but not flushed to disk, which keeps an acquire in the
    tens of microseconds. Only a power cut can lose the last counts, and no process of
    the account survives one to overrun with them.
    """

    def __init__(self, path: os.PathLike[str] | str) -> None:
        self._conn = open_sqlite(Path(path))
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time()

    @contextmanager
    def _transaction(self) -> Iterator[_Rows]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Rows(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def take(self, account: str, charges: list[Charge], margin: float, offset: float) -> Take:
        with self._transaction() as rows:
            t = time.time() + offset
            rows.conn.execute("DELETE FROM qmtl_rate_budget WHERE expires < ?", (t,))
            return _take(rows, account, charges, margin, t)

    def observe(self, account: str, reports: list[Report], margin: float, offset: float) -> None:
        with self._transaction() as rows:
            _observe(rows, account, reports, margin, time.time() + offset)

    def block(self, account: str, seconds: float, offset: float) -> None:
        with self._transaction() as rows:
            until = time.time() + offset + seconds
            rows.raise_to([((account, BLOCKED), until, until)])

    def used(self, account: str, pool: str, limit: Limit, offset: float) -> float:
        with self._lock:
            return _used(_Rows(self._conn), account, pool, limit, time.time() + offset)

    def close(self) -> None:
        self._conn.close()


# The Redis scripts share a preamble: the server's clock shifted to the venue's, and the
# account's key prefix. ``replicate_commands`` lets Redis < 5 write after TIME (effects
# replication, the default since Redis 5); newer servers treat it as a no-op.
_PREAMBLE = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local offset = tonumber(ARGV[2])
local t = tonumber(clock[1]) + tonumber(clock[2]) / 1000000 + offset
local margin = tonumber(ARGV[3])
local prefix = ARGV[1]
local function expire_at(key, venue_time)
  redis.call('PEXPIREAT', key, math.ceil((venue_time - offset + SLACK) * 1000))
end
""".replace("SLACK", repr(EXPIRY_SLACK_SECONDS))

# ARGV: prefix, offset, margin, then (pool, cost, limit, interval) per charge.
# Each counter is incremented first and checked after (one command per window, not a
# GET then an INCRBY); a refusal gives every increment back before it returns, so the
# step stays all or nothing. A counter gets its expiry when it is created. A grant
# answers the integer 1 (the cheapest reply to send and parse); a refusal answers
# {wait, pool}.
_TAKE = (
    _PREAMBLE
    + """
local blocked_until = tonumber(redis.call('GET', prefix .. 'blocked') or '0')
if blocked_until > t then return {tostring(blocked_until - t), 'blocked'} end
local wait, refused = 0, false
local taken = {}
for i = 4, #ARGV, 4 do
  local pool, cost = ARGV[i], tonumber(ARGV[i + 1])
  local limit, interval = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  for w = math.floor((t - margin) / interval), math.floor((t + margin) / interval) do
    local key = prefix .. pool .. ':' .. ARGV[i + 3] .. ':' .. string.format('%d', w)
    local finish = (w + 1) * interval + margin
    local used = redis.call('INCRBY', key, cost)
    if used == cost then expire_at(key, finish) end
    taken[#taken + 1] = {key, cost}
    if used > limit and finish - t > wait then wait, refused = finish - t, pool end
  end
end
if not refused then return 1 end
for _, take in ipairs(taken) do redis.call('DECRBY', take[1], take[2]) end
return {tostring(wait), refused}
"""
)

# ARGV: prefix, offset, margin, pool, interval, used.
_OBSERVE = (
    _PREAMBLE
    + """
local interval, used = tonumber(ARGV[5]), tonumber(ARGV[6])
local w = math.floor(t / interval)
if t - w * interval < margin then return 0 end
local key = prefix .. ARGV[4] .. ':' .. ARGV[5] .. ':' .. string.format('%d', w)
if used > tonumber(redis.call('GET', key) or '0') then
  redis.call('SET', key, used)
  expire_at(key, (w + 1) * interval + margin)
end
return 1
"""
)

# ARGV: prefix, offset, margin, seconds.
_BLOCK = (
    _PREAMBLE
    + """
local blocked_until = t + tonumber(ARGV[4])
if blocked_until > tonumber(redis.call('GET', prefix .. 'blocked') or '0') then
  redis.call('SET', prefix .. 'blocked', tostring(blocked_until))
  expire_at(prefix .. 'blocked', blocked_until)
end
return 1
"""
)


# ARGV: prefix, offset, margin, pool, interval.
_USED = (
    _PREAMBLE
    + """
local w = math.floor(t / tonumber(ARGV[5]))
return redis.call('GET', prefix .. ARGV[4] .. ':' .. ARGV[5] .. ':' .. string.format('%d', w))
"""
)


class RedisStore:
    """Counters on a Redis server: one script call (one round trip) per step.

    Keys are ``qmtl:rate:{account}:...``; the braces keep an account's keys in one
    Redis Cluster slot. The scripts go through a :class:`~qmtl_core.redis_scripts.
    ScriptCaller`, and a take's command is packed once per account, pool set and clock
    offset: an acquire then costs about one bare round trip.
    """

    def __init__(self, client: Any) -> None:
        from qmtl_core.redis_scripts import ScriptCaller  # needs the optional redis package

        self._scripts = ScriptCaller(client)
        self._take = self._scripts.register(_TAKE)
        self._observe = self._scripts.register(_OBSERVE)
        self._block = self._scripts.register(_BLOCK)
        self._used = self._scripts.register(_USED)
        self._packed_takes: dict[tuple[str, float, float, tuple[Charge, ...]], Packed] = {}

    @staticmethod
    def _prefix(account: str) -> str:
        return f"qmtl:rate:{{{account}}}:"

    def now(self) -> float:
        seconds, micros = self._scripts.client.time()
        return float(seconds) + float(micros) / 1e6

    def take(self, account: str, charges: list[Charge], margin: float, offset: float) -> Take:
        key = (account, offset, margin, tuple(charges))
        packed = self._packed_takes.get(key)
        if packed is None:
            args: list[Any] = [self._prefix(account), repr(offset), repr(margin)]
            for pool, cost, limit in charges:
                args += [pool, cost, limit.limit, limit.interval]
            packed = self._scripts.pack(self._take, args)
            if len(self._packed_takes) >= PACKED_TAKES_KEPT:
                self._packed_takes.clear()
            self._packed_takes[key] = packed
        answer = self._scripts.call(self._take, packed)
        if answer == 1:
            return GRANTED
        wait, pool = answer
        return Take(False, float(wait), pool.decode() if isinstance(pool, bytes) else str(pool))

    def _call(self, script: Any, *args: str | int | float) -> Any:
        return self._scripts.run(script, args)

    def observe(self, account: str, reports: list[Report], margin: float, offset: float) -> None:
        prefix = self._prefix(account)
        for pool, limit, used in reports:
            self._call(
                self._observe, prefix, repr(offset), repr(margin), pool, limit.interval, used
            )

    def block(self, account: str, seconds: float, offset: float) -> None:
        self._call(self._block, self._prefix(account), repr(offset), "0", repr(seconds))

    def used(self, account: str, pool: str, limit: Limit, offset: float) -> float:
        found = self._call(
            self._used, self._prefix(account), repr(offset), "0", pool, limit.interval
        )
        return 0.0 if found is None else float(found)

    def close(self) -> None:
        self._scripts.close()


def open_budget_store(
    state: StateURL | str | None, *, base_dir: str | os.PathLike[str] | None = None
) -> BudgetStore:
    """The store a ``connectors: state:`` URL names; ``None`` is this process's memory."""
    if state is None:
        return MEMORY
    parsed = state if isinstance(state, StateURL) else parse_state_url(state, base_dir=base_dir)
    if parsed.scheme == "sqlite":
        assert parsed.path is not None
        return SqliteStore(parsed.path)
    if parsed.scheme == "redis":
        return RedisStore(open_redis(parsed))
    return MEMORY


def open_rate_budget(
    state: StateURL | str | None,
    account: str,
    limits: dict[str, Limit] | None = None,
    *,
    max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
    base_dir: str | os.PathLike[str] | None = None,
) -> RateBudget:
    """The budget of ``account`` kept where ``state`` says (see :func:`open_budget_store`)."""
    return RateBudget(
        open_budget_store(state, base_dir=base_dir), account, limits, max_wait=max_wait
    )
