"""Lua scripts called on a Redis server with one packed write and one read per call.

redis-py's ``Script`` goes through ``Redis.execute_command``: a pool checkout and
release, argument encoding and packing, observability hooks and a retry wrapper on
every call. That costs several times the round trip itself on loopback (a rate budget
acquire is one script call, on the path of every request). :class:`ScriptCaller`
keeps its own connections (taken once from the client's pool, so AUTH, TLS, the
database and timeouts are the client's), lets a caller pack a command once and reuse
the bytes, and sends them with the connection's own retry policy:

- a connection is used by one thread at a time (idle ones wait in a list);
- after a fork the child opens its own connections instead of sharing the parent's;
- a call interrupted between write and read drops its connection, so no stale reply
  is ever read as the next call's answer;
- a connection the server closed while idle is reconnected, and a server that lost
  its scripts (restart, ``SCRIPT FLUSH``) gets the script loaded again, as redis-py's
  pool and ``Script`` do.

Import this module only where Redis is in use: it needs the optional ``redis`` package.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

import redis
from redis.commands.core import Script
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.retry import Retry

if TYPE_CHECKING:
    from redis.connection import Connection


#: A packed command: one bytes object, in the sequence ``send_packed_command`` takes.
Packed = tuple[bytes]


class _Connection(Protocol):
    """What this module uses of a redis-py connection."""

    retry: Retry

    def pack_command(self, *args: object) -> list[bytes]: ...

    def send_packed_command(self, command: Packed) -> None: ...

    def read_response(self) -> Any: ...

    def disconnect(self) -> None: ...


class ScriptCaller:
    """Calls the scripts of one redis-py client over connections it holds."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._pool = client.connection_pool
        self._idle: list[_Connection] = []
        self._pid = os.getpid()

    def register(self, source: str) -> Script:
        """A script (its SHA1 and source) to :meth:`pack` calls of."""
        return self.client.register_script(source)

    def pack(self, script: Script, args: Sequence[str | int | float]) -> Packed:
        """``EVALSHA`` of ``script`` with ``args`` (no keys), ready to send (one write)."""
        connection = self._connection()
        try:
            return (b"".join(connection.pack_command("EVALSHA", script.sha, 0, *args)),)
        finally:
            self._idle.append(connection)

    def call(self, script: Script, packed: Packed) -> Any:
        """Send ``packed`` (from :meth:`pack`) and return the script's reply.

        A connection the server closed while it sat idle (a restart, a client timeout)
        is reconnected and the call made once more, as redis-py's pool reconnects a
        stale connection; other connection errors are retried under the client's retry
        policy, like any redis-py command. A repeated call may count twice, never not
        at all. A script's own error is raised as redis-py raises it.
        """
        connection = self._connection()
        try:
            try:
                return self._attempt(connection, script, packed)
            except RedisConnectionError:
                return self._attempt(connection, script, packed)
        finally:
            self._idle.append(connection)

    def run(self, script: Script, args: Sequence[str | int | float]) -> Any:
        """Pack and :meth:`call` in one: for a command that is not sent again."""
        return self.call(script, self.pack(script, args))

    def _attempt(self, connection: _Connection, script: Script, packed: Packed) -> Any:
        try:
            return connection.retry.call_with_retry(
                lambda: self._round_trip(connection, packed),
                lambda _error: connection.disconnect(),
            )
        except NoScriptError:
            self.client.script_load(script.script)
            return self._round_trip(connection, packed)

    @staticmethod
    def _round_trip(connection: _Connection, packed: Packed) -> Any:
        try:
            connection.send_packed_command(packed)
            return connection.read_response()
        except BaseException as exc:
            if not isinstance(exc, ResponseError):  # an error reply was read in full
                connection.disconnect()  # a reply may still be on its way
            raise

    def _connection(self) -> _Connection:
        if self._pid != os.getpid():  # forked: the parent's sockets are not ours
            self._idle, self._pid = [], os.getpid()
        try:
            return self._idle.pop()
        except IndexError:
            return self._pool.get_connection()

    def close(self) -> None:
        """Hand the connections back and close the client."""
        while self._idle:
            self._pool.release(cast("Connection", self._idle.pop()))
        self.client.close()
