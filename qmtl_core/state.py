"""Where durable, shared state lives: one URL, three backends.

The order journal and the rate budget both keep state that must outlive a process and
be shared by every process trading an account. ``connectors: state:`` names the store
once, as a URL:

- ``sqlite:///relative/state.db`` or ``sqlite:////absolute/state.db`` (SQLAlchemy's
  spelling; a relative path is relative to ``base_dir``, the folder of ``qmtl.yml``):
  the embedded default, safe for many processes on one machine;
- ``redis://[:password@]host:port/db`` (or ``rediss://``): many processes on many
  machines;
- ``memory://``: nothing survives the process (tests, throw-away runs).

This module parses the URL and opens connections with the settings the stores rely on
(SQLite in WAL with ``synchronous=FULL``; Redis answering a PING). What is kept in the
store belongs to the journal and the rate budget.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

from qmtl_core.errors import ConfigError
from qmtl_core.redaction import redact_url

if TYPE_CHECKING:
    import redis

Scheme = Literal["sqlite", "redis", "memory"]
STATE_KEY = "state"
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
REDIS_CONNECT_TIMEOUT_SECONDS = 2.0
_FIX = (
    "use sqlite:///relative/path.db, sqlite:////absolute/path.db, redis://host:port/db or memory://"
)


@dataclass(frozen=True)
class StateURL:
    """A parsed ``connectors: state:`` URL. ``str()`` never shows a password."""

    scheme: Scheme
    url: str
    path: Path | None = None

    def __str__(self) -> str:
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"StateURL({redact_url(self.url)!r})"


def parse_state_url(url: str, *, base_dir: str | os.PathLike[str] | None = None) -> StateURL:
    """Parse a state URL; a relative SQLite path resolves against ``base_dir`` (else cwd).

    Raises :class:`ConfigError` naming the ``state`` key and the accepted forms.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"expected a state URL, got {url!r}; {_FIX}", key=STATE_KEY)
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "memory":
        return StateURL("memory", "memory://")
    if scheme == "sqlite":
        raw = url[len("sqlite://") :]
        if not raw.startswith("/") or raw == "/":
            raise ConfigError(f"'{url}' has no file path; {_FIX}", key=STATE_KEY)
        relative = raw[1:]
        path = Path(unquote(relative))
        if not path.is_absolute():
            path = Path(base_dir if base_dir is not None else Path.cwd()) / path
        return StateURL("sqlite", url, path.resolve())
    if scheme in ("redis", "rediss"):
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018  (raises ValueError for a bad port)
        except ValueError as exc:
            raise ConfigError(f"'{redact_url(url)}': {exc}; {_FIX}", key=STATE_KEY) from None
        if not parts.hostname:
            raise ConfigError(f"'{redact_url(url)}' has no host; {_FIX}", key=STATE_KEY)
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise ConfigError(
                f"'{redact_url(url)}': the database must be a number, got '{db}'; {_FIX}",
                key=STATE_KEY,
            )
        return StateURL("redis", url)
    raise ConfigError(f"unsupported state URL '{redact_url(url)}'; {_FIX}", key=STATE_KEY)


def open_sqlite(path: Path) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path`` in WAL mode with ``synchronous=FULL``.

    FULL makes every commit durable before it returns, so a record committed before an
    order leaves survives a crash of the process or the machine. Transactions are
    explicit (``isolation_level=None``): callers write ``BEGIN IMMEDIATE`` to take the
    write lock up front, so two processes never race between a read and a write.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path,
            timeout=SQLITE_BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(
            f"cannot open the state file {path}: {exc}; choose a writable local path "
            "(not a network file system) or another state URL",
            key=STATE_KEY,
        ) from None
    return conn


def open_redis(state: StateURL) -> redis.Redis:
    """A redis-py client for ``state``, checked with one PING so a bad address fails now.

    Needs the ``redis`` package (``pip install 'qmtl-core[redis]'``).
    """
    try:
        import redis
    except ImportError:
        raise ConfigError(
            f"state '{state}' needs the redis client: pip install 'qmtl-core[redis]'",
            key=STATE_KEY,
        ) from None
    client = redis.Redis.from_url(
        state.url,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
        socket_timeout=REDIS_CONNECT_TIMEOUT_SECONDS * 5,
        health_check_interval=30,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise ConfigError(
            f"cannot reach Redis at {state}: {type(exc).__name__}: {exc}; start the server "
            "or fix the address",
            key=STATE_KEY,
        ) from None
    return client


#: Environment variable naming the folder of the default state file.
STATE_DIR_ENV = "QMTL_STATE_DIR"


def default_state_url() -> str:
    """The state URL used when ``qmtl.yml`` has no ``state:`` key: a SQLite file, so
    durability is on by default. ``$QMTL_STATE_DIR/state.db`` when that variable is set
    (the test suite sets it to a temporary folder), else
    ``$XDG_STATE_HOME/qmtl/state.db`` (``~/.local/state/qmtl/state.db``)."""
    folder = os.environ.get(STATE_DIR_ENV)
    if not folder:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        folder = str(Path(xdg) / "qmtl")
    return "sqlite:///" + str((Path(folder) / "state.db").resolve())
