"""CcxtStreamFeed: exchange market data through ccxt.pro, with the WebSocketFeed contract.

One watcher task per symbol and channel, on the loop that called ``start()``, reads
what ccxt.pro cached for its stream and puts messages into a bounded :class:`Outbox`;
one consumer task hands them to ``on_message`` one at a time, in order. When the outbox
is full, the feed stops ccxt from reading its sockets, so a slow consumer pushes back on
the venue instead of growing memory. A lost connection is retried with the core's
capped, jittered backoff; ccxt resubscribes on the new connection, and ``on_reconnect``
is awaited before any message from it. A depth sequence gap makes ccxt drop the book;
the watcher subscribes again, which fetches a fresh snapshot: a book is delivered only
when consistent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import ccxt.pro

from qmtl_ccxt_common.products import SPOT, Product
from qmtl_ccxt_common.venue import Venue, open_venue
from qmtl_core.errors import ConfigError, FeedAuthenticationError, FeedError
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
from qmtl_plugin_ccxt_stream.channels import Message, Stream
from qmtl_plugin_ccxt_stream.config import CHANNEL_CAPABILITIES, CcxtStreamConfig
from qmtl_plugin_ccxt_stream.outbox import Outbox

log = logging.getLogger(__name__)

FEED_NAME = "ccxt"
#: How long stop() waits for ccxt to close its connections; a backstop, not a pace.
STOP_TIMEOUT_SECONDS = 0.5
_PREVIEW = 80
#: ccxt options: spot markets (as the spot brokerage), and full tickers (with bid and
#: ask) where an exchange offers a lighter "mini" ticker by default (Binance).
STREAM = Product("spot-stream", {**SPOT.defaults, "watchTickers": {"name": "ticker"}})


@dataclass(frozen=True)
class FeedStats:
    """Counters of a feed since it was built (a snapshot)."""

    connects: int
    reconnects: int
    delivered: int
    handler_errors: int
    dropped: int  # frames ccxt could not read (not JSON, not the venue's shape): not delivered
    resyncs: int  # order books rebuilt from a fresh snapshot after a sequence gap
    queued: int  # messages waiting for on_message now
    peak_queued: int  # the most that ever waited (never above queue_size, markers aside)


class _Reconnected:
    """Outbox marker: a connection came back; await on_reconnect before what follows."""


@dataclass(frozen=True)
class _Failed:
    """Outbox marker: the feed cannot go on; report ``error`` and end."""

    error: FeedError


_RECONNECTED: Final = _Reconnected()
_Item = Message | _Reconnected | _Failed


@dataclass
class _Run:
    """What one start()..stop() cycle owns."""

    outbox: Outbox[_Item]
    started: asyncio.Future[None]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    urls: set[str] = field(default_factory=set)


class CcxtStreamFeed(ConfiguredFeed[CcxtStreamConfig]):
    """``await feed.start()`` subscribes; messages go to ``on_message`` until ``await feed.stop()``.

    ``exchange`` is a ccxt exchange id; ``symbols`` and ``channels`` say what to follow
    (``trades``, ``order_book``, ``ohlcv:<timeframe>``, ``ticker``, and ``orders``, the
    account's order updates, which needs keys). Venue options
    (``apiKey``/``api_key``, ``secret``, ``sandbox``, ``options`` and any ccxt exchange
    attribute, e.g. ``urls``) are taken as the ccxt brokerages take them.
    """

    def __init__(
        self,
        exchange: str,
        on_message: MessageHandler,
        *,
        on_reconnect: ReconnectHandler | None = None,
        on_error: ErrorHandler | None = None,
        **options: Any,
    ) -> None:
        config = CcxtStreamConfig.parse({"exchange": exchange, **options})
        self._configure(config, on_message, on_reconnect, on_error)

    def _setup(self, config: CcxtStreamConfig) -> None:
        self.symbols = list(config.symbols)
        self.channels = config.streams()
        self.order_book_depth = config.order_book_depth
        self.queue_size = config.queue_size
        self._venue: Venue = open_venue(config, STREAM, library=ccxt.pro)
        ex = self._venue.exchange
        self._require_channels(ex)
        if config.keepalive is not None:
            ex.streaming = {**ex.streaming, "keepAlive": int(config.keepalive * 1000)}
        self._streams = [
            Stream(ex, symbol, name, timeframe)
            for symbol in self.symbols
            for name, timeframe in self.channels
        ]
        self._closed_bars: dict[tuple[str, str], set[int]] = {}
        self._hook(ex)
        self.state = "new"
        self.error: FeedError | None = None
        self._run: _Run | None = None
        self._connects = self._reconnects = self._delivered = 0
        self._handler_errors = self._resyncs = self._dropped = 0

    def __repr__(self) -> str:
        channels = ",".join(f"{n}:{t}" if t else n for n, t in self.channels)
        return (
            f"CcxtStreamFeed({self._venue.id!r}, symbols={self.symbols!r}, "
            f"channels={channels!r}, state={self.state!r})"
        )

    @property
    def exchange(self) -> Any:
        """The ccxt.pro exchange object (credentials inside; never printed by the feed)."""
        return self._venue.exchange

    @property
    def stats(self) -> FeedStats:
        """Counts and timings so far: connects, messages delivered and dropped, book
        resyncs, the queue held for a slow consumer."""
        run = self._run
        return FeedStats(
            connects=self._connects,
            reconnects=self._reconnects,
            delivered=self._delivered,
            handler_errors=self._handler_errors,
            dropped=self._dropped + sum(s.incomplete for s in self._streams),
            resyncs=self._resyncs,
            queued=run.outbox.held if run is not None else 0,
            peak_queued=run.outbox.peak if run is not None else 0,
        )

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._run is not None

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load the markets, check the symbols and subscribe; returns once the first
        connection is up. Raises :class:`FeedError` (or :class:`ConfigError` for an
        unknown symbol) instead of starting half a feed."""
        if self._run is not None:
            raise FeedError(f"{self._where}: the feed is already started")
        loop = asyncio.get_running_loop()
        run = _Run(Outbox(self.queue_size), loop.create_future())
        self._run, self.error, self.state = run, None, "connecting"
        run.tasks.append(loop.create_task(self._begin(run), name=f"{self._where} start"))
        try:
            await run.started
        except BaseException:
            await self.stop()
            raise

    async def _begin(self, run: _Run) -> None:
        """Load the markets, then start the watchers and the consumer (a task: stop() ends it)."""
        try:
            await self._load_markets()
        except Exception as exc:
            if not run.started.done():
                run.started.set_exception(exc)
            return
        loop = asyncio.get_running_loop()
        for stream in self._streams:
            run.tasks.append(loop.create_task(self._watch(run, stream), name=repr(stream)))
        run.tasks.append(loop.create_task(self._consume(run), name=f"{self._where} consumer"))

    async def stop(self) -> None:
        """Stop watching and delivering and close ccxt's connections; prompt in every state."""
        run = self._run
        if run is None:
            return
        self._run = None
        if not run.started.done():
            run.started.set_exception(FeedError(f"{self._where}: stopped before connecting"))
            run.started.exception()  # retrieved: nobody else may be waiting
        current = asyncio.current_task()
        tasks = [t for t in run.tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        try:
            await asyncio.wait_for(self._venue.exchange.close(), STOP_TIMEOUT_SECONDS)
        except Exception as exc:  # closing is best effort: the sockets go with the tasks
            log.debug("%s: closing ccxt: %s", self._where, self._venue.scrub(str(exc)))
        if self.state != "failed":
            if self.state == "connected":
                self.events.feed("disconnected", FEED_NAME, exchange=self._where, reason="stopped")
            self.state = "stopped"

    # --- watching (one task per stream) ------------------------------------------------

    async def _watch(self, run: _Run, stream: Stream) -> None:
        """Keep ``stream`` subscribed: wait on ccxt, collect, reconnect, resync, or fail."""
        outage: Outage | None = None
        connected_at = time.monotonic()
        while True:
            try:
                await stream.wait()
                self._collect(run, (stream,))  # what no frame brought (a book snapshot)
                if outage is not None and was_healthy(time.monotonic() - connected_at, None):
                    outage = None
            except ccxt.ChecksumError as exc:
                # A depth sequence gap: ccxt dropped the book; waiting again re-subscribes
                # and fetches a fresh snapshot.
                self._resyncs += 1
                log.warning("%s: %s; rebuilding the book", stream, self._venue.scrub(str(exc)))
            except ccxt.NetworkError as exc:
                reason = self._venue.scrub(str(exc)) or type(exc).__name__
                if outage is None:
                    outage = self._outage()
                    self.state = "reconnecting"
                    self.events.feed(
                        "disconnected",
                        FEED_NAME,
                        exchange=self._where,
                        stream=repr(stream),
                        reason=reason,
                    )
                delay = outage.next_delay()
                if delay is None:
                    self._fail(
                        run,
                        FeedError(
                            f"{self._where}: {stream}: gave up after {outage.attempts - 1} "
                            f"reconnect attempts in {outage.elapsed:.1f}s; last error: {reason}"
                        ),
                    )
                    return
                log.warning("%s: %s: %s; reconnecting in %.2fs", self._where, stream, reason, delay)
                await asyncio.sleep(delay)
                connected_at = time.monotonic()
            except ccxt.AuthenticationError as exc:
                self._fail(
                    run, FeedAuthenticationError(f"{self._where}: {self._venue.scrub(str(exc))}")
                )
                return
            except ccxt.BaseError as exc:
                self._fail(
                    run, FeedError(f"{self._where}: {stream}: {self._venue.scrub(str(exc))}")
                )
                return

    def _outage(self) -> Outage:
        config = self.config
        return Outage(config.max_retries, None, config.backoff, config.max_backoff)

    def _fail(self, run: _Run, error: FeedError) -> None:
        log.error("%s: feed failed: %s", self._where, error)
        self.error, self.state = error, "failed"
        if not run.started.done():
            run.started.set_exception(error)
        else:
            run.outbox.put(_Failed(error))

    # --- ccxt hooks: connections and socket reads --------------------------------------

    def _hook(self, exchange: Any) -> None:
        """Follow ccxt's connections (reconnects, back-pressure), frames and closed bars."""
        connected = exchange.on_connected
        handle_ohlcv: Callable[[Any, Any], Any] | None = getattr(exchange, "handle_ohlcv", None)

        def on_connected(client: Any, message: Any = None) -> Any:
            self._connected(client)
            return connected(client, message)

        def on_ohlcv(client: Any, message: Any) -> Any:
            assert handle_ohlcv is not None
            result = handle_ohlcv(client, message)
            self._note_closed_bar(message)
            return result

        exchange.on_connected = on_connected
        if handle_ohlcv is not None:
            exchange.handle_ohlcv = on_ohlcv

    def _connected(self, client: Any) -> None:
        run = self._run
        if run is None:
            return
        outbox = run.outbox
        receive = client.receive

        async def receive_when_there_is_room() -> Any:
            await outbox.room()
            return await receive()

        client.receive = receive_when_there_is_room
        client.handle_text_or_binary_message = self._contained(client)
        self._connects += 1
        self.state = "connected"
        url = self._venue.scrub(str(client.url))
        if url not in run.urls and not run.started.done():
            run.urls.add(url)
            self.events.feed("connected", FEED_NAME, exchange=self._where)
            run.started.set_result(None)
        elif url not in run.urls:
            run.urls.add(url)
        else:
            self._reconnects += 1
            self.events.feed(
                "reconnected", FEED_NAME, exchange=self._where, reconnects=self._reconnects
            )
            outbox.put(_RECONNECTED)

    def _contained(self, client: Any) -> Callable[[Any], None]:
        """ccxt's frame handler, except that a frame it cannot read is dropped and counted.

        Unwrapped, ccxt lets the error escape its receive loop, which then stops reading:
        the connection would stay open and silent forever.
        """
        handle = client.handle_text_or_binary_message

        def handle_or_drop(data: Any) -> None:
            try:
                handle(data)
            except Exception as exc:
                self._drop(data, exc)
            else:
                run = self._run
                if run is not None:
                    self._collect(run, self._streams)

        return handle_or_drop

    def _collect(self, run: _Run, streams: Sequence[Stream]) -> None:
        """Move what ccxt just cached into the outbox, right after the frame that brought it.

        Collecting per frame, rather than when a ``watch_*`` call returns, is what keeps
        every message in order and on time: nothing waits for a later frame, and ccxt's
        caches (which drop their oldest entries when full) never hold more than a frame.
        """
        depth, put = self.order_book_depth, run.outbox.put
        for stream in streams:
            closed = self._closed_bars.setdefault((stream.symbol, stream.timeframe or ""), set())
            for message in stream.fresh(depth, closed):
                put(message)

    def _drop(self, data: Any, exc: Exception) -> None:
        """Count and report a frame ccxt could not read."""
        self._dropped += 1
        text = data if isinstance(data, str) else bytes(data).decode("utf-8", "replace")
        self.events.feed(
            "message_dropped",
            FEED_NAME,
            exchange=self._where,
            reason=self._venue.scrub(f"{type(exc).__name__}: {exc}"),
            preview=self._venue.scrub(text[:_PREVIEW]),
            size=len(data),
        )

    def _note_closed_bar(self, message: Any) -> None:
        """Binance-shaped klines say when a bar closed (``k.x``): deliver it at once."""
        kline = message.get("k") if isinstance(message, dict) else None
        if not isinstance(kline, dict) or kline.get("x") is not True:
            return
        exchange = self._venue.exchange
        market = exchange.safe_market(kline.get("s"), None, None, "spot")
        timeframe = exchange.find_timeframe(kline.get("i"))
        bars = self._closed_bars.get((market["symbol"], timeframe))
        if bars is not None:
            bars.add(int(kline["t"]))

    # --- delivery ----------------------------------------------------------------------

    async def _consume(self, run: _Run) -> None:
        take, on_message, on_error = run.outbox.take, self.on_message, self.on_error
        while True:
            item = await take()
            if isinstance(item, dict):
                if await deliver(on_message, item, on_error=on_error):
                    self._delivered += 1
                else:
                    self._handler_errors += 1
            elif isinstance(item, _Reconnected):
                await notify_reconnect(self.on_reconnect, self.on_error, self._where)
            else:
                await report_failure(self.on_error, item.error, self._where)
                return

    # --- helpers ---------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return f"ccxt.pro {self._venue.id}"

    async def _load_markets(self) -> None:
        outage = self._outage()
        while True:
            try:
                await self._venue.exchange.load_markets()
                break
            except ccxt.NetworkError as exc:
                reason = self._venue.scrub(str(exc))
                delay = outage.next_delay()
                if delay is None:
                    raise FeedError(f"{self._where}: could not load markets: {reason}") from None
                log.warning(
                    "%s: loading markets: %s; retrying in %.2fs", self._where, reason, delay
                )
                await asyncio.sleep(delay)
            except ccxt.BaseError as exc:
                raise FeedError(
                    f"{self._where}: could not load markets: {self._venue.scrub(str(exc))}"
                ) from None
        markets = self._venue.exchange.markets
        for symbol in self.symbols:
            if symbol not in markets:
                raise ConfigError(f"{self._venue.id} has no market '{symbol}'", key="symbols")

    def _require_channels(self, exchange: Any) -> None:
        has = exchange.has
        for name, _ in self.channels:
            capability = CHANNEL_CAPABILITIES[name]
            if not has.get(capability):
                raise ConfigError(
                    f"{exchange.id} has no '{name}' stream in ccxt.pro {ccxt.__version__} "
                    f"({capability} is not supported); remove it from channels",
                    key="channels",
                )
