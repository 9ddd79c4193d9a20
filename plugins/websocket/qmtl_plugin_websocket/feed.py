"""WebSocketFeed: the seed's live data feed over WebSocket, built to survive real peers.

A reader thread owns a :class:`WebSocketClient`: it connects with the bearer token,
sends the subscriptions, parses each frame and hands the messages to the event loop
that called ``start()``, where ``on_message`` gets them one at a time, in order. The
thread reconnects with capped, jittered backoff when the peer drops or goes silent;
``on_reconnect`` is awaited before the first message of each new connection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from qmtl_core import runtime
from qmtl_core.errors import FeedAuthenticationError, FeedError
from qmtl_core.events import DEFAULT_EVENTS, Events
from qmtl_core.feeds import (
    ConfiguredFeed,
    ErrorHandler,
    MessageHandler,
    ReconnectHandler,
    deliver,
    notify_reconnect,
    report_failure,
)
from qmtl_core.outage import Outage, was_healthy
from qmtl_core.redaction import Secret, redact_url
from qmtl_plugin_websocket.client import WebSocketClient
from qmtl_plugin_websocket.config import SubscribeSource, WebSocketFeedConfig
from qmtl_plugin_websocket.frames import decode_frame
from qmtl_plugin_websocket.handoff import Handoff

log = logging.getLogger(__name__)

FEED_NAME = "websocket"
#: How long stop() waits for the reader thread; it is interrupted, so this is a backstop.
STOP_TIMEOUT_SECONDS = 0.9
_PREVIEW = 80


@dataclass(frozen=True)
class FeedStats:
    """Counters of a feed since it was built (a snapshot)."""

    connects: int
    reconnects: int
    received: int
    delivered: int
    dropped: int  # frames that were not a JSON object: logged, counted, not delivered
    handler_errors: int
    last_message_at: float | None  # time.time() when the last message arrived
    queued: int  # messages waiting for on_message now
    peak_queued: int  # the most that ever waited (never above queue_size)


class _Reconnected:
    """Marker in the hand-off: a new connection is up; await on_reconnect first."""


@dataclass(frozen=True)
class _Failed:
    """Marker in the hand-off: the reader gave up; report ``error`` and end."""

    error: FeedError


_RECONNECTED: Final = _Reconnected()
_Item = dict[str, Any] | _Reconnected | _Failed


#: The token a feed configured without one sends (the seed's flat form has no other way).
TOKEN_ENV = "QMTL_WS_TOKEN"  # noqa: S105 (a variable name, not a secret)


def _env_token() -> Secret | None:
    value = os.environ.get(TOKEN_ENV)
    return Secret(value) if value else None


def _settle(future: asyncio.Future[None], error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


@dataclass
class _Run:
    """What one start()..stop() cycle owns."""

    loop: asyncio.AbstractEventLoop
    handoff: Handoff[_Item]
    connected: asyncio.Future[None]
    finished: asyncio.Future[None]
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: WebSocketClient | None = None
    connected_once: bool = False
    consumer: asyncio.Task[None] | None = None
    thread: threading.Thread | None = None

    @property
    def over(self) -> bool:
        """Stopping, or the loop that started the feed is gone (stop() was never awaited)."""
        return self.stopping.is_set() or self.loop.is_closed()

    def call(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback`` on the feed's loop, from the reader thread."""
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: its owner is gone
            pass


class WebSocketFeed(ConfiguredFeed[WebSocketFeedConfig]):
    """``await feed.start()`` connects; messages go to ``on_message`` until ``await feed.stop()``.

    ``start()`` returns once connected and raises :class:`FeedAuthenticationError` when
    the handshake is refused (401/403) or :class:`FeedError` when the first connection
    cannot be made within ``start_timeout`` seconds (default
    ``runtime.WS_START_TIMEOUT_SECONDS``) or the retry budget runs out first. Once
    connected, the feed reconnects within its retry budget (unlimited by default). Later
    failures end the feed, set :attr:`error` and go to ``on_error`` (called as
    ``on_error(exc, {})``; for a failing ``on_message`` it gets the message).

    Args:
        url: the gateway's ``ws://`` or ``wss://`` URL.
        on_message: ``async def on_message(message: dict)``, called for each JSON object.
        token: the bearer token (default: ``$QMTL_WS_TOKEN``), kept as a ``Secret``.
        subscribe: messages sent after every connect, or a callable returning them.
        on_reconnect: awaited after each reconnect, before its first message.
        on_error: ``fn(exc, message)``, sync or async, told about failures.

    The other options (``max_retries``, ``max_total_time``, ``start_timeout``,
    ``ping_interval``, ``recv_timeout``, ``connect_timeout``, ``backoff``,
    ``max_backoff``, ``healthy_after``, ``queue_size``) are the ``websocket`` feed's
    config keys (see the configuration reference); None means the runtime default.

    Raises:
        ConfigError: a bad option (named), when the feed is built.
    """

    #: Where this feed's events go; the registry that builds it sets its own.
    events: Events = DEFAULT_EVENTS
    #: Messages sent after every connect, or (in code) a callable that builds them.
    subscribe: SubscribeSource

    def __init__(
        self,
        url: str,
        on_message: MessageHandler,
        *,
        token: str | Secret | None = None,
        subscribe: SubscribeSource = None,
        on_reconnect: ReconnectHandler | None = None,
        on_error: ErrorHandler | None = None,
        max_retries: int | None = None,
        max_total_time: float | None = None,
        start_timeout: float | None = None,
        ping_interval: float | None = None,
        recv_timeout: float | None = None,
        connect_timeout: float | None = None,
        backoff: float | None = None,
        max_backoff: float | None = None,
        healthy_after: float | None = None,
        queue_size: int | None = None,
    ) -> None:
        given = {
            "url": url,
            "token": token,
            "subscribe": None if callable(subscribe) else subscribe,
            "max_retries": max_retries,
            "max_total_time": max_total_time,
            "start_timeout": start_timeout,
            "ping_interval": ping_interval,
            "recv_timeout": recv_timeout,
            "connect_timeout": connect_timeout,
            "backoff": backoff,
            "max_backoff": max_backoff,
            "healthy_after": healthy_after,
            "queue_size": queue_size,
        }
        config = WebSocketFeedConfig.parse({k: v for k, v in given.items() if v is not None})
        self._configure(config, on_message, on_reconnect, on_error)
        if callable(subscribe):
            self.subscribe = subscribe

    def _setup(self, config: WebSocketFeedConfig) -> None:
        self.url = config.url
        self.subscribe = config.subscribe
        self.queue_size = config.queue_size
        self._token = config.token
        self._where = redact_url(config.url)
        self.state = "new"
        self.error: FeedError | None = None
        self._run: _Run | None = None
        self._handoff: Handoff[_Item] | None = None
        self._connects = self._reconnects = self._received = 0
        self._delivered = self._dropped = self._handler_errors = 0
        self._last_message_at: float | None = None

    def __repr__(self) -> str:
        return f"WebSocketFeed({self._where!r}, state={self.state!r})"

    @property
    def stats(self) -> FeedStats:
        """A snapshot of the feed's counters (:class:`FeedStats`)."""
        handoff = self._handoff
        return FeedStats(
            connects=self._connects,
            reconnects=self._reconnects,
            received=self._received,
            delivered=self._delivered,
            dropped=self._dropped,
            handler_errors=self._handler_errors,
            last_message_at=self._last_message_at,
            queued=handoff.held if handoff is not None and self._run is not None else 0,
            peak_queued=handoff.peak if handoff is not None else 0,
        )

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._run is not None

    # --- lifecycle (event loop) -------------------------------------------------------

    async def start(self) -> None:
        """Connect and start delivering; returns once the first connection is up."""
        if self._run is not None:
            raise FeedError(f"{self._where}: the feed is already started")
        loop = asyncio.get_running_loop()
        handoff: Handoff[_Item] = Handoff(loop, self.queue_size)
        run = _Run(loop, handoff, loop.create_future(), loop.create_future())
        self._run, self._handoff, self.error = run, handoff, None
        self.state = "connecting"
        run.consumer = loop.create_task(self._consume(run), name=f"websocket feed {self._where}")
        run.thread = threading.Thread(
            target=self._read, args=(run,), name=f"qmtl-websocket-feed {self._where}", daemon=True
        )
        run.thread.start()
        try:
            await run.connected
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop reading and delivering; returns within a second, with no thread left."""
        run = self._run
        if run is None:
            return
        self._run = None
        run.stopping.set()
        with run.lock:
            client = run.client
        if client is not None:
            client.abort()
        run.handoff.close()
        _settle(run.connected, FeedError(f"{self._where}: stopped before connecting"))
        consumer = run.consumer
        if consumer is not None and consumer is not asyncio.current_task():
            consumer.cancel()  # (stop() may be called from on_message itself)
            await asyncio.wait([consumer])
        if not run.finished.done():
            await asyncio.wait([run.finished], timeout=STOP_TIMEOUT_SECONDS)
        if run.thread is not None:
            run.thread.join(timeout=STOP_TIMEOUT_SECONDS)
            if run.thread.is_alive():
                log.error("%s: the reader thread did not stop in time", self._where)
        if self.state != "failed":
            if self.state == "connected":
                self.events.feed("disconnected", FEED_NAME, url=self._where, reason="stopped")
            self.state = "stopped"

    # --- delivery (event loop) --------------------------------------------------------

    async def _consume(self, run: _Run) -> None:
        handoff, stopping = run.handoff, run.stopping
        on_message, on_error = self.on_message, self.on_error
        while True:
            batch = await handoff.take()
            if not batch:
                return
            lag = time.monotonic() - handoff.batch_arrived
            handed = 0
            try:
                for item in batch:
                    if stopping.is_set():
                        return
                    if isinstance(item, dict):
                        handed += 1
                        if await deliver(on_message, item, on_error=on_error):
                            self._delivered += 1
                        else:
                            self._handler_errors += 1
                    elif isinstance(item, _Reconnected):
                        await notify_reconnect(self.on_reconnect, self.on_error, self._where)
                    else:
                        await report_failure(self.on_error, item.error, self._where)
                        return
            finally:
                handoff.done(len(batch))
                if handed:
                    self.events.feed(
                        "delivered",
                        FEED_NAME,
                        url=self._where,
                        messages=handed,
                        lag=lag,
                        queued=handoff.held,
                    )
            await asyncio.sleep(0)  # let the loop's other tasks run between batches

    # --- reading (reader thread) ------------------------------------------------------

    def _read(self, run: _Run) -> None:
        try:
            self._connect_loop(run)
        except Exception as exc:  # a failing subscribe callable, or a bug: never hang start()
            log.exception("%s: the reader failed", self._where)
            self._fail(run, exc if isinstance(exc, FeedError) else FeedError(repr(exc)))
        finally:
            run.call(_settle, run.finished)

    def _connect_loop(self, run: _Run) -> None:
        outage = self._outage(starting=True)
        while not run.over:
            client = self._new_client(run)
            if client is None:
                return
            try:
                client.connect()
                for message in self._subscriptions():
                    client.send(message)
            except FeedAuthenticationError as exc:
                client.close()
                if not run.stopping.is_set():
                    self._fail(run, exc)
                return
            except FeedError as exc:
                client.close()
                if run.over or not self._wait(run, outage, exc):
                    return
                continue
            except BaseException:
                client.close()
                raise
            connected_at = time.monotonic()
            self._connected(run)
            outage.max_total_time = self.config.max_total_time  # start_timeout is over
            try:
                self._pump(run, client)
                return  # the hand-off was closed: we are stopping
            except FeedError as exc:
                lost = exc
            finally:
                client.close()
            if run.over:
                return
            self.state = "reconnecting"
            self.events.feed("disconnected", FEED_NAME, url=self._where, reason=str(lost))
            if was_healthy(time.monotonic() - connected_at, self.config.healthy_after):
                outage = self._outage()
            if not self._wait(run, outage, lost):
                return

    def _pump(self, run: _Run, client: WebSocketClient) -> None:
        """The hot path: frame -> dict -> hand-off, until the connection fails."""
        put, decode, receive = run.handoff.put, decode_frame, client.receive
        while True:
            payload = receive()
            message = decode(payload)
            if isinstance(message, str):
                self._drop(payload, message)
                continue
            self._received += 1
            self._last_message_at = time.time()
            if not put(message):
                return

    def _new_client(self, run: _Run) -> WebSocketClient | None:
        client = WebSocketClient(
            self.url,
            token=self._token or _env_token(),
            ping_interval=self.config.ping_interval,
            recv_timeout=self.config.recv_timeout,
            connect_timeout=self.config.connect_timeout,
            before_wait=run.handoff.flush,
        )
        with run.lock:
            if run.stopping.is_set():
                return None
            run.client = client
        return client

    def _subscriptions(self) -> list[Mapping[str, Any] | str]:
        source = self.subscribe
        return list(source() if callable(source) else source or ())

    def _connected(self, run: _Run) -> None:
        self._connects += 1
        self.state = "connected"
        if not run.connected_once:
            run.connected_once = True
            self.events.feed("connected", FEED_NAME, url=self._where)
            run.call(_settle, run.connected)
            return
        self._reconnects += 1
        self.events.feed("reconnected", FEED_NAME, url=self._where, reconnects=self._reconnects)
        run.handoff.put(_RECONNECTED)
        run.handoff.flush()

    def _outage(self, *, starting: bool = False) -> Outage:
        """The retry budget of one outage; before the first connection, also bounded by
        ``start_timeout``, so ``start()`` never waits forever on a host that is not there."""
        limit = self.config.max_total_time
        if starting:
            start = self.config.start_timeout or runtime.WS_START_TIMEOUT_SECONDS
            limit = start if limit is None else min(limit, start)
        return Outage(self.config.max_retries, limit, self.config.backoff, self.config.max_backoff)

    def _wait(self, run: _Run, outage: Outage, error: FeedError) -> bool:
        """Back off before the next attempt; False when giving up or stopping."""
        delay = outage.next_delay()
        if delay is None:
            self._fail(
                run,
                FeedError(
                    f"{self._where}: {'' if run.connected_once else 'could not connect: '}"
                    f"gave up after {outage.attempts - 1} reconnect attempts "
                    f"in {outage.elapsed:.1f}s (max_retries, max_total_time"
                    f"{'' if run.connected_once else ', start_timeout'}); last error: {error}"
                ),
            )
            return False
        self.state = "reconnecting"
        log.warning("%s; reconnect attempt %d in %.2fs", error, outage.attempts, delay)
        return not run.stopping.wait(delay)

    def _fail(self, run: _Run, error: FeedError) -> None:
        """The feed cannot go on: surface ``error`` through start() or on_error."""
        log.error("%s: feed failed: %s", self._where, error)
        self.error = error
        self.state = "failed"
        if not run.connected_once:
            run.call(_settle, run.connected, error)
        elif run.handoff.put(_Failed(error)):
            run.handoff.flush()

    def _drop(self, payload: bytes, reason: str) -> None:
        """Count and report one frame that cannot be delivered; the feed goes on."""
        self._dropped += 1
        preview = payload[:_PREVIEW]
        self.events.feed(
            "message_dropped",
            FEED_NAME,
            url=self._where,
            reason=reason,
            preview=preview.decode("utf-8", "replace"),
            size=len(payload),
        )
