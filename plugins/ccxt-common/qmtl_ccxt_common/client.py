"""CcxtClient: orders on any ccxt exchange through the core's safety net, for every product.

The core base class validates, submits idempotently (looking an order up by client id
after an ambiguous failure) and retries with the core policy; this class only says
how to place, find, fetch and cancel an order through ccxt, and what the venue's
market rules are. The spot and futures connectors subclass it with their product and
config; a ccxt-based plugin of another kind reuses ``open_venue`` and ``CcxtConfig``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from qmtl_ccxt_common.acks import AssetBalance, to_ack, to_balances
from qmtl_ccxt_common.aio import AsyncCcxtVenue
from qmtl_ccxt_common.config import CcxtConfig
from qmtl_ccxt_common.errors import is_duplicate_client_order_id
from qmtl_ccxt_common.markets import conform
from qmtl_ccxt_common.metering import VenueMeter
from qmtl_ccxt_common.products import Product
from qmtl_ccxt_common.refs import OrderRefs
from qmtl_ccxt_common.venue import open_venue
from qmtl_core.brokerage import (
    BaseBrokerageClient,
    Capabilities,
    OcoSupport,
    OrderInput,
    OrderRefInput,
)
from qmtl_core.errors import (
    ConfigError,
    OrderNotCancelable,
    OrderNotFound,
    OrderRejected,
    OrderValidationError,
    TransientError,
    VenueProtocolError,
)
from qmtl_core.execution import RetryPolicy, call_with_retries, retrying
from qmtl_core.journal import OrderJournal
from qmtl_core.orders import (
    SPOT_ORDER_TYPES,
    Order,
    OrderAck,
    OrderStatus,
    OrderType,
    TimeInForce,
    order_ref,
)
from qmtl_core.steps import Call, Plan, run

if TYPE_CHECKING:
    from qmtl_ccxt_common.order_stream import OrderStream

T = TypeVar("T")
#: Time-in-force values every ccxt venue we target understands for limit orders.
SUPPORTED_TIME_IN_FORCE = frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK})


class CcxtClient(BaseBrokerageClient):
    """``Client("binance", apiKey=..., secret=..., sandbox=True)`` for the subclass's product.

    Options are the subclass's ``config_class`` (also accepted from ``qmtl.yml``); any
    keyword it does not declare must be a ccxt exchange setting and goes to the ccxt
    constructor. ``exchange`` may also be a ready synchronous ccxt exchange instance.

    OCO is manual (``OCOOrder`` watch-and-cancel): ccxt has no unified OCO call.
    """

    capabilities = Capabilities(OcoSupport.MANUAL, SPOT_ORDER_TYPES)
    config_class: ClassVar[type[CcxtConfig]] = CcxtConfig
    product: ClassVar[Product]

    def __init__(
        self, exchange: str | Any, *, journal: OrderJournal | None = None, **options: Any
    ) -> None:
        exchange_id = exchange if isinstance(exchange, str) else getattr(exchange, "id", None)
        if not isinstance(exchange_id, str):
            raise ConfigError(
                f"expected a ccxt exchange id or a synchronous ccxt exchange, got {exchange!r}",
                key="exchange",
            )
        config = self.config_class.parse({"exchange": exchange_id, **options})
        self._configure(config, None if isinstance(exchange, str) else exchange, journal=journal)

    @classmethod
    def from_config(cls, config: CcxtConfig) -> Self:
        """The registry's factory: a client from its validated config."""
        client = cls.__new__(cls)
        client._configure(config, None)
        return client

    def _configure(
        self, config: CcxtConfig, instance: Any, *, journal: OrderJournal | None = None
    ) -> None:
        super().__init__(journal=journal)
        self.config = config
        self.retry_policy = RetryPolicy(max_retries=config.max_retries, backoff=config.backoff)
        self.venue = open_venue(config, self.product, instance)
        #: Built around a ready exchange instance rather than from the config.
        self.adopted = instance is not None
        self.exchange: Any = self.venue.exchange
        # Every event and journal entry carries it: built once, not per order.
        self._connector_name = f"{type(self).__name__}[{self.venue.id}]"
        self._refs = OrderRefs()
        self.open_rate_budget(self.venue.id, self.exchange.apiKey or None, config)
        self.venue.on_rate_limited = lambda retry_after: self.answered(429, retry_after, {})
        VenueMeter(self, self.exchange)
        #: The venue's order stream when ``stream_orders`` is on (see ``order_stream``).
        self.order_stream: OrderStream | None = None
        if config.stream_orders:
            from qmtl_ccxt_common.order_stream import OrderStream  # ccxt.pro: only when asked

            self.order_stream = OrderStream(config, self.product, self.exchange, self._poll_venue)
            self.order_stream.start()

    @property
    def connector_name(self) -> str:
        return self._connector_name

    @property
    def environment(self) -> str:
        """Where orders go: ``live``, ``sandbox`` (testnet) or ``demo``."""
        return self.venue.environment

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(exchange={self.venue.id!r}, environment={self.environment!r})"
        )

    # --- public API beyond the base interface --------------------------------------

    def validate(self, order: OrderInput) -> Order:
        """The order as it would be sent: core rules, then the market's precision and limits."""
        exchange = self.exchange
        if _markets_loaded(exchange):  # nothing to load: no plan to drive
            return conform(exchange, self._checked(order))
        return run(self.validating(order, exchange), self._perform_ccxt)

    def _checked(self, order: OrderInput) -> Order:
        """The core's rules and this connector's time-in-force rule."""
        validated = super().validate(order)
        _check_time_in_force(validated)
        return validated

    def validating(self, order: OrderInput, exchange: Any) -> Plan[Order]:
        """The plan of :meth:`validate` against ``exchange`` (this client's, or its async
        twin's): markets are loaded by the driver's exchange."""
        validated = self._checked(order)
        if not _markets_loaded(exchange):
            yield from retrying(
                lambda: ccxt_call("load_markets", "load_markets"),
                self.retry_policy,
                name=f"{self.venue.id}.load_markets",
            )
        return conform(exchange, validated)

    def poll_order_status(self, order: OrderRefInput, *, symbol: str | None = None) -> OrderAck:
        """The order's current state; ``symbol`` is needed only for orders this client
        did not place or list (e.g. after a restart). With ``stream_orders``, answered
        from the venue's order stream while it is current, without a request."""
        return run(self.polling(order, symbol=symbol), self.perform)

    def polling(self, order: OrderRefInput, *, symbol: str | None = None) -> Plan[OrderAck]:
        """The plan of :meth:`poll_order_status`."""
        self._note_ref(order, symbol)
        stream = self.order_stream
        pushed = None if stream is None else stream.current_ack(order_ref(order))
        if pushed is not None:
            yield from self._tracking(pushed)
            return pushed
        return (yield from super().polling(order))

    def wait_for_order_update(self, orders: Sequence[OrderAck], timeout: float) -> bool:
        """Block until the order stream pushed news of ``orders`` or ``timeout`` passed;
        False at once without a current stream (the caller then paces its polls)."""
        stream = self.order_stream
        return stream is not None and stream.wait_for_update(orders, timeout)

    def close(self) -> None:
        """Stop following the order stream, if any (orders at the venue are untouched)."""
        if self.order_stream is not None:
            self.order_stream.close()

    def cancel_order(self, order_id: OrderRefInput, *, symbol: str | None = None) -> OrderAck:
        """Cancel; raises ``OrderNotCancelable`` if the order already filled or ended."""
        return run(self.canceling(order_id, symbol=symbol), self.perform)

    def canceling(self, order_id: OrderRefInput, *, symbol: str | None = None) -> Plan[OrderAck]:
        """The plan of :meth:`cancel_order`."""
        self._note_ref(order_id, symbol)
        return (yield from super().canceling(order_id))

    def async_venue(self, executor: Executor) -> AsyncCcxtVenue:
        """The native async twin's venue calls: a ``ccxt.async_support`` exchange built
        from this client's config (same secrets, environment and rate budget). A client
        adopted from a ready exchange instance has no config to build one from: its
        calls then run in ``executor``."""
        return AsyncCcxtVenue(self, executor)

    def open_orders(self, symbol: str | None = None) -> list[OrderAck]:
        """Orders still working at the venue, e.g. to reconcile after a restart."""
        orders = self._retrying(
            "fetch_open_orders", lambda: self.exchange.fetch_open_orders(symbol)
        )
        acks = [to_ack(o) for o in orders]
        for ack in acks:
            if ack.symbol:
                self._refs.remember(
                    ack.symbol, order_id=ack.id, client_order_id=ack.client_order_id or None
                )
        return acks

    def balance(self) -> dict[str, AssetBalance]:
        """Non-zero balances by asset: free, used (locked in orders) and total."""
        return to_balances(self._retrying("fetch_balance", self.exchange.fetch_balance))

    # --- venue calls used by the base class ----------------------------------------

    def order_params(self, order: Order) -> dict[str, Any]:
        """ccxt ``params`` for ``create_order``; futures add their fields."""
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        if order.time_in_force is not None:
            params["timeInForce"] = str(order.time_in_force)
        return params

    # Each venue call is a plan of ccxt calls (see ``ccxt_call``): run here on the
    # blocking exchange, and by ``AsyncCcxtVenue`` on the ``ccxt.async_support`` one.
    VENUE_PLANS: ClassVar[Mapping[str, str]] = {
        "send": "send_plan",
        "lookup": "lookup_plan",
        "fetch": "fetch_plan",
        "cancel": "cancel_plan",
    }

    def _perform_ccxt(self, step: Call) -> Any:
        """One ccxt call of a plan on the blocking exchange, errors translated."""
        action, method, args = step.args
        return self.venue.call(
            action, lambda: getattr(self.exchange, method)(*args), placing=step.placing
        )

    def _send(self, order: Order) -> OrderAck:
        return run(self.send_plan(order), self._perform_ccxt)

    def _lookup(self, order: Order) -> OrderAck | None:
        return run(self.lookup_plan(order), self._perform_ccxt)

    def _fetch(self, ref: str) -> OrderAck:
        return run(self.fetch_plan(ref), self._perform_ccxt)

    def _cancel(self, ref: str) -> OrderAck:
        return run(self.cancel_plan(ref), self._perform_ccxt)

    def send_plan(self, order: Order) -> Plan[OrderAck]:
        """Place ``order`` once (``create_order``); a duplicate client id is looked up."""
        self._refs.remember(order.symbol, order_id=None, client_order_id=order.client_order_id)
        params = self.order_params(order)
        price = None if order.limit_price is None else str(order.limit_price)
        args = (
            order.symbol,
            str(order.type),  # the enums' values (str() of a StrEnum: cheaper than .value)
            str(order.side).lower(),
            str(order.quantity),
            price,
            params,
        )
        try:
            created = yield from ccxt_call("create_order", "create_order", *args, placing=True)
        except OrderRejected as exc:
            if not is_duplicate_client_order_id(exc.raw or {}):
                raise
            # The venue already holds an order with this client id: an earlier attempt
            # landed. Return that order rather than placing a second one.
            existing = yield from self.lookup_plan(order)
            if existing is None:
                raise TransientError(str(exc), ambiguous=True) from None
            return existing
        try:
            return self._ack(created, order.symbol, order.client_order_id, OrderStatus.NEW)
        except VenueProtocolError as exc:
            # The venue took the request but its answer is not an order: the order may
            # be live, so it is looked up by its client id before anything is re-sent.
            raise TransientError(
                f"{exc}; looking order {order.client_order_id} up", ambiguous=True
            ) from exc

    def lookup_plan(self, order: Order) -> Plan[OrderAck | None]:
        """The venue's order with ``order``'s client id (None if it has none), by
        ``fetch_order`` or else among the open orders."""
        coid, symbol = order.client_order_id, order.symbol
        try:
            if self.exchange.has.get("fetchOrder"):
                params = {"clientOrderId": coid}
                found = yield from ccxt_call("fetch_order", "fetch_order", coid, symbol, params)
            else:
                orders = yield from ccxt_call("fetch_order", "fetch_open_orders", symbol)
                found = next((o for o in orders if o.get("clientOrderId") == coid), None)
        except OrderNotFound:
            return None
        return None if found is None else self._ack(found, symbol, coid)

    def fetch_plan(self, ref: str) -> Plan[OrderAck]:
        """The order ``ref`` (venue or client id) as the venue holds it now."""
        symbol, coid, params = self._locate(ref)
        fetched = yield from ccxt_call("fetch_order", "fetch_order", ref, symbol, params)
        return self._ack(fetched, symbol, coid)

    def cancel_plan(self, ref: str) -> Plan[OrderAck]:
        """Cancel ``ref``; ``OrderNotCancelable`` when it already ended."""
        symbol, coid, params = self._locate(ref)
        try:
            canceled = yield from ccxt_call("cancel_order", "cancel_order", ref, symbol, params)
        except OrderNotFound:
            # Binance answers "unknown order" for orders that already filled: tell
            # "already complete" apart from "never existed" by looking.
            current = yield from self.fetch_plan(ref)
            if current.status.is_complete:
                raise OrderNotCancelable(
                    current.id, current.status.value, raw=current.raw
                ) from None
            raise
        return self._ack(canceled, symbol, coid, OrderStatus.CANCELED)

    # --- helpers --------------------------------------------------------------------

    def _poll_venue(self, ack: OrderAck) -> OrderAck:
        """The order's state over REST (the order stream catching up after a reconnect)."""
        self._note_ref(ack, ack.symbol)
        return super().poll_order_status(ack)

    def _remember(self, ack: OrderAck) -> OrderStatus | None:
        if self.order_stream is not None:
            self.order_stream.note(ack)
        return super()._remember(ack)

    def _ack(
        self,
        order: Mapping[str, Any],
        symbol: str,
        client_order_id: str | None,
        default_status: OrderStatus | None = None,
    ) -> OrderAck:
        ack = to_ack(
            order,
            symbol=symbol,
            client_order_id=client_order_id,
            default_status=default_status,
        )
        self._refs.remember(symbol, order_id=ack.id, client_order_id=ack.client_order_id or None)
        return ack

    def _note_ref(self, order: OrderRefInput, symbol: str | None) -> None:
        """Remember the symbol of an order given as an ack/mapping or with ``symbol=``."""
        ref = order_ref(order)
        known = self._refs.get(ref)
        mapping: Mapping[str, Any] = {} if isinstance(order, str) else order
        symbol = symbol or mapping.get("symbol") or (known.symbol if known else None)
        if not symbol:
            return
        coid = mapping.get("client_order_id") or (known.client_order_id if known else None)
        if known is not None and known == (symbol, coid or None):
            return  # nothing new: the answer to this call refreshes it anyway
        order_id = mapping.get("id") or (ref if ref != coid else None)
        self._refs.remember(symbol, order_id=order_id, client_order_id=coid or None)

    def default_symbol(self) -> str | None:
        """Symbol for orders the client knows nothing about; futures use their ``symbol``."""
        return None

    def _locate(self, ref: str) -> tuple[str, str | None, dict[str, Any]]:
        """(symbol, client id, ccxt params) to address order ``ref`` at the venue."""
        known = self._refs.get(ref)
        symbol = known.symbol if known else self.default_symbol()
        if symbol is None:
            raise OrderNotFound(
                f"order {ref!r} is unknown to this client; pass symbol=... to look it up "
                f"({self.venue.id} finds orders by symbol and id)"
            )
        if self._refs.is_client_id(ref):
            return symbol, ref, {"clientOrderId": ref}
        return symbol, known.client_order_id if known else None, {}

    def _retrying(self, action: str, fn: Callable[[], T]) -> T:
        """An idempotent ccxt call, retried on transient failures with the core policy."""
        return call_with_retries(
            lambda: self.venue.call(action, fn), self.retry_policy, name=f"{self.venue.id}.{action}"
        )


def ccxt_call(action: str, method: str, *args: Any, placing: bool = False) -> Plan[Any]:
    """A plan step: the exchange's ``method(*args)``, errors reported as ``action``."""
    return (yield Call("ccxt", (action, method, args), placing))


def _markets_loaded(exchange: Any) -> bool:
    """True when ccxt's ``load_markets`` would be a no-op."""
    return bool(exchange.markets and exchange.markets_by_id)


def _check_time_in_force(order: Order) -> None:
    tif = order.time_in_force
    if tif is None:
        return
    if order.type is OrderType.MARKET:
        raise OrderValidationError(
            "time_in_force", tif.value, "only for limit orders: a market order executes at once"
        )
    if tif not in SUPPORTED_TIME_IN_FORCE:
        allowed = "|".join(sorted(t.value for t in SUPPORTED_TIME_IN_FORCE))
        raise OrderValidationError("time_in_force", tif.value, f"use one of {allowed}")
