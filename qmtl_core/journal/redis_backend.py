"""The Redis journal: many processes on many machines share one server.

Each transition is one Lua script, so it is atomic on the server: the claim checks the
``client_order_id`` and takes the content key with ``SET NX PX`` (the key's TTL is the
duplicate window), writes the entry and appends the event to a Stream in one step; an
outcome updates the entry and appends its event the same way. Outcomes are stored off
the order path: the process's next claim carries them in its own script call, or the
journal's writer thread sends them soon after, a batch in one call.
A journal needs the
server to persist every write before it answers (``appendonly yes``, ``appendfsync
always``). Every key shares the hash tag ``{journal}``, so on a cluster they live in
one slot.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import TYPE_CHECKING, Any

from qmtl_core.journal.base import OrderJournal
from qmtl_core.journal.model import (
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
from qmtl_core.redis_scripts import ScriptCaller
from qmtl_core.state import StateURL, open_redis

if TYPE_CHECKING:
    import redis

PREFIX = "qmtl:{journal}:"
#: The event Stream is trimmed (approximately) to this many events.
STREAM_MAXLEN = 1_000_000

_EVENT = """
local function event(stream, maxlen, coid, state, connector, owner, status, venue, reason, now)
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'client_order_id', coid,
    'state', state, 'connector', connector, 'owner', owner, 'status', status,
    'venue_id', venue, 'reason', reason, 'time', now)
end
"""

# Outcomes come in groups of 8 ARGV from ``first``: coid, state, ack ('' keep), status,
# venue id, seen, reason, now.
_RECORDS = """
local function record(prefix, maxlen, coid, state, ack, status, venue, seen, reason, now)
  local entry = prefix .. 'e:' .. coid
  local f = redis.call('HMGET', entry, 'connector', 'owner', 'key', 'state', 'updated')
  if not f[1] then return end
  if f[4] == state and f[5] == now then return end  -- stored already: a call made again
  if ack ~= '' then
    redis.call('HSET', entry, 'state', state, 'updated', now, 'reason', reason, 'ack', ack,
      'seen', seen)
  else
    redis.call('HSET', entry, 'state', state, 'updated', now, 'reason', reason)
  end
  if state == 'in_flight' or state == 'unknown' then
    redis.call('SADD', prefix .. 'unresolved', coid)
  else
    redis.call('SREM', prefix .. 'unresolved', coid)
  end
  if state == 'not_placed' and f[3] ~= '' then
    local key = prefix .. 'k:' .. f[3]
    if redis.call('GET', key) == coid then redis.call('DEL', key) end
  end
  event(prefix .. 'events', maxlen, coid, state, f[1], f[2], status, venue, reason, now)
end
local function records(prefix, maxlen, first)
  for i = first, #ARGV, 8 do
    record(prefix, maxlen, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
      ARGV[i + 5], ARGV[i + 6], ARGV[i + 7])
  end
end
"""

# ARGV: coid, order, connector, owner, dup key ('' none), ttl ms, now, prefix, maxlen,
# claim token, then the outcomes to store first (whatever the claim's answer). A claim
# made again after its answer was lost finds its own token: it is still this claim's.
_CLAIM = (
    _EVENT
    + _RECORDS
    + """
local prefix = ARGV[8]
records(prefix, ARGV[9], 11)
local entry = prefix .. 'e:' .. ARGV[1]
local state = redis.call('HGET', entry, 'state')
if state and state ~= 'not_placed' then
  if state == 'in_flight' and redis.call('HGET', entry, 'token') == ARGV[10] then
    return {1}
  end
  return {0, redis.call('HGETALL', entry)}
end
if ARGV[5] ~= '' then
  local key = prefix .. 'k:' .. ARGV[5]
  if not redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[6]) then
    local holder = redis.call('GET', key)
    local found = redis.call('HGETALL', prefix .. 'e:' .. holder)
    if #found > 0 then return {0, found} end
    redis.call('SET', key, ARGV[1], 'PX', ARGV[6])
  end
end
redis.call('DEL', entry)
redis.call('HSET', entry, 'client_order_id', ARGV[1], 'state', 'in_flight', 'order', ARGV[2],
  'connector', ARGV[3], 'owner', ARGV[4], 'key', ARGV[5], 'created', ARGV[7],
  'updated', ARGV[7], 'reason', '', 'token', ARGV[10])
redis.call('SADD', prefix .. 'unresolved', ARGV[1])
redis.call('ZADD', prefix .. 'all', ARGV[7], ARGV[1])
event(prefix .. 'events', ARGV[9], ARGV[1], 'in_flight', ARGV[3], ARGV[4], '', '', '', ARGV[7])
return {1}
"""
)

# ARGV: prefix, maxlen, then the outcomes
_RECORD = _EVENT + _RECORDS + "records(ARGV[1], ARGV[2], 3)\n"

# KEYS: entry, unresolved, events
# ARGV: coid, ack, status, venue id, seen, now, maxlen
_OBSERVE = (
    _EVENT
    + """
local f = redis.call('HMGET', KEYS[1], 'connector', 'owner', 'state', 'seen')
if not f[1] then return 0 end
if f[3] == 'acknowledged' and f[4] == ARGV[5] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'acknowledged', 'ack', ARGV[2], 'seen', ARGV[5],
  'updated', ARGV[6])
redis.call('SREM', KEYS[2], ARGV[1])
event(KEYS[3], ARGV[7], ARGV[1], 'acknowledged', f[1], f[2], ARGV[3], ARGV[4], '', ARGV[6])
return 1
"""
)

# KEYS: entry; ARGV: previous owner, new owner
_ADOPT = """
local f = redis.call('HMGET', KEYS[1], 'owner', 'state')
if f[1] ~= ARGV[1] or (f[2] ~= 'in_flight' and f[2] ~= 'unknown') then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[2])
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(flat: list[Any] | dict[Any, Any]) -> JournalEntry:
    if isinstance(flat, dict):
        data = {_text(k): _text(v) for k, v in flat.items()}
    else:
        data = {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}
    return JournalEntry(
        client_order_id=data["client_order_id"],
        state=data["state"],
        order=order_from_json(data["order"]),
        ack=ack_from_json(data.get("ack")),
        connector=data["connector"],
        owner=data["owner"],
        key=data.get("key") or None,
        created=float(data["created"]),
        updated=float(data["updated"]),
        reason=data.get("reason", ""),
    )


def _seen(ack: OrderAck) -> str:
    return f"{ack.status.value}|{ack.filled_quantity}"


def _outcome_args(outcomes: list[Outcome]) -> list[str]:
    """``outcomes`` as the ARGV groups of :data:`_RECORDS`."""
    args: list[str] = []
    for outcome in outcomes:
        ack = outcome.ack
        args += (
            outcome.client_order_id,
            outcome.state.value,
            ack_to_json(ack) if ack else "",
            ack.status.value if ack else "",
            ack.id if ack else "",
            _seen(ack) if ack else "",
            outcome.reason,
            repr(outcome.time),
        )
    return args


class RedisJournal(OrderJournal):
    """The journal on a Redis server (``redis://host:port/db``)."""

    def __init__(self, state: StateURL) -> None:
        super().__init__(state.url, renew_lease=True, background_outcomes=True)
        self._redis: redis.Redis = open_redis(state)
        # The send path's scripts go one packed write and one read per call.
        self._scripts = ScriptCaller(self._redis)
        self._claim_script = self._scripts.register(_CLAIM)
        self._record_script = self._scripts.register(_RECORD)
        self._claims = itertools.count()
        self._observe_script = self._redis.register_script(_OBSERVE)
        self._adopt_script = self._redis.register_script(_ADOPT)
        self._start()

    # --- reading -------------------------------------------------------------------

    def _get(self, client_order_id: str) -> JournalEntry | None:
        found = self._redis.hgetall(PREFIX + "e:" + client_order_id)
        return _entry(found) if found else None

    def _load(self, coids: list[Any]) -> list[JournalEntry]:
        pipe = self._redis.pipeline(transaction=False)
        for coid in coids:
            pipe.hgetall(PREFIX + "e:" + _text(coid))
        return [_entry(found) for found in pipe.execute() if found]

    def _entries(self, state: EntryState | None) -> list[JournalEntry]:
        found = self._load(self._redis.zrange(PREFIX + "all", 0, -1))
        if state is None:
            return found
        return [entry for entry in found if entry.state == state.value]

    def _events(self, after: str | None, limit: int) -> list[JournalEvent]:
        start = "-" if after is None else f"({after}"
        out = []
        for event_id, fields in (
            self._redis.xrange(PREFIX + "events", start, "+", count=limit) or []
        ):
            data = {_text(k): _text(v) for k, v in (fields or {}).items()}
            out.append(
                JournalEvent(
                    id=_text(event_id),
                    time=float(data["time"]),
                    client_order_id=data["client_order_id"],
                    state=data["state"],
                    connector=data["connector"],
                    owner=data["owner"],
                    status=data.get("status", ""),
                    venue_id=data.get("venue_id", ""),
                    reason=data.get("reason", ""),
                )
            )
        return out

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
        args: list[str | int] = [
            coid,
            order_to_json(order),
            connector,
            self.owner,
            key or "",
            max(1, int((key_ttl or 0.0) * 1000)),
            repr(now),
            PREFIX,
            STREAM_MAXLEN,
            f"{self.owner}:{next(self._claims)}",
            *_outcome_args(outcomes),
        ]
        answer = self._scripts.run(self._claim_script, args)
        if int(answer[0]) == 0:
            return Claim(False, _entry(answer[1]))
        return Claim(
            True,
            JournalEntry(
                coid,
                EntryState.IN_FLIGHT.value,
                order,
                None,
                connector,
                self.owner,
                key,
                now,
                now,
            ),
        )

    def _store_outcomes(self, outcomes: list[Outcome]) -> None:
        self._scripts.run(self._record_script, [PREFIX, STREAM_MAXLEN, *_outcome_args(outcomes)])

    def _observe(self, ack: OrderAck) -> None:
        coid = ack.client_order_id
        self._observe_script(
            keys=[PREFIX + "e:" + coid, PREFIX + "unresolved", PREFIX + "events"],
            args=[
                coid,
                ack_to_json(ack),
                ack.status.value,
                ack.id,
                _seen(ack),
                repr(time.time()),
                STREAM_MAXLEN,
            ],
        )

    # --- ownership -------------------------------------------------------------------

    def _unresolved(self, connector: str | None) -> list[tuple[JournalEntry, bool]]:
        entries = self._load(sorted(self._redis.smembers(PREFIX + "unresolved")))
        entries = [e for e in entries if connector is None or e.connector == connector]
        owners = sorted({e.owner for e in entries})
        leases = (
            dict(zip(owners, self._redis.mget([PREFIX + "o:" + o for o in owners]), strict=True))
            if owners
            else {}
        )
        now = time.time()
        out = []
        for entry in sorted(entries, key=lambda e: e.created):
            lease = leases.get(entry.owner)
            if lease is None:
                gone = True
            else:
                host, _, pid = _text(lease).rpartition("|")
                gone = owner_is_gone(host, int(pid), float("inf"), now)
            out.append((entry, gone))
        return out

    def _unresolved_count(self) -> int:
        return int(self._redis.scard(PREFIX + "unresolved"))

    def _adopt(self, client_order_id: str, previous_owner: str) -> bool:
        return bool(
            self._adopt_script(
                keys=[PREFIX + "e:" + client_order_id], args=[previous_owner, self.owner]
            )
        )

    def _renew_lease(self, seconds: float) -> None:
        self._redis.set(
            PREFIX + "o:" + self.owner, f"{host_identity()}|{os.getpid()}", px=int(seconds * 1000)
        )

    def _release_lease(self) -> None:
        self._redis.delete(PREFIX + "o:" + self.owner)

    def _close_store(self) -> None:
        self._scripts.close()  # and the client
