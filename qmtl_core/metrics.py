"""Prometheus metrics: turn them on from ``qmtl.yml`` or code, serve ``/metrics``.

``enable_metrics(port=9464)`` registers a :class:`~qmtl_core.metrics_observer.MetricsObserver`
on a registry's plugin manager and serves its metrics over HTTP. ``prometheus_client``
(the ``qmtl-core[metrics]`` extra) is imported only here, on the call, so a process
that never turns metrics on never loads it. See ``docs/metrics.md``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from types import TracebackType
from typing import TYPE_CHECKING, Any

from qmtl_core.errors import ConfigError
from qmtl_core.options import unknown

if TYPE_CHECKING:
    from qmtl_core.metrics_observer import MetricsObserver
    from qmtl_core.registry import Registry

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9464
INSTALL_HINT = "pip install 'qmtl-core[metrics]'"
#: The keys of ``connectors: metrics:`` with what they mean (also the config docs).
METRICS_KEYS = {
    "port": f"TCP port of the /metrics endpoint (default {DEFAULT_PORT}; 0 picks a free one)",
    "address": f"`host:port` to serve on instead of `port` (host defaults to {DEFAULT_HOST})",
}
#: prometheus_client's multiprocess mode: set, every process writes its samples there.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class MetricsSettings:
    """Where ``/metrics`` is served: the validated ``connectors: metrics:`` section."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def check_settings(
    section: Mapping[str, Any],
) -> tuple[MetricsSettings | None, list[tuple[str, str]]]:
    """Validate a ``metrics:`` mapping: the settings, or ``(key, problem)`` pairs."""
    known = list(METRICS_KEYS)
    problems = [(str(key), unknown("key", str(key), known)) for key in section if key not in known]
    host, port = DEFAULT_HOST, section.get("port", DEFAULT_PORT)
    if isinstance(port, str) and port.isdigit():  # "${METRICS_PORT}" interpolates to text
        port = int(port)
    if "address" in section:
        if "port" in section:
            problems.append(("address", "give either 'port' or 'address', not both"))
        address = section["address"]
        text = address if isinstance(address, str) else ""
        host, _, port_text = text.rpartition(":")
        port = int(port_text) if port_text.isdigit() else None
        if not host or port is None:
            problems.append(
                (
                    "address",
                    f"expected 'host:port' like {DEFAULT_HOST}:{DEFAULT_PORT}, got {address!r}",
                )
            )
            return None, problems
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        key = "address" if "address" in section else "port"
        problems.append((key, f"expected a TCP port 0-65535, got {port!r}"))
    if problems:
        return None, problems
    return MetricsSettings(host.strip("[]"), port), []


def settings(port: int | None = None, *, address: str | None = None) -> MetricsSettings:
    """Settings from code arguments; ``ConfigError`` names the argument and the fix."""
    section: dict[str, Any] = {}
    if port is not None:
        section["port"] = port
    if address is not None:
        section["address"] = address
    checked, problems = check_settings(section)
    if checked is None:
        key, message = problems[0]
        raise ConfigError(message, key=key)
    return checked


def _observer_module() -> Any:
    try:
        return import_module("qmtl_core.metrics_observer")
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("prometheus_client"):
            raise
        raise ConfigError(
            f"metrics need the prometheus_client package: {INSTALL_HINT}", key="connectors.metrics"
        ) from None


class MetricsExporter:
    """A running metrics observer and, unless ``serve=False``, its ``/metrics`` server.

    ``close()`` (or leaving the ``with`` block) stops the server and unregisters the
    observer. The rate-budget and journal gauges are fed through
    :meth:`watch_rate_budget` and :meth:`watch_journal`.
    """

    def __init__(self, observer: MetricsObserver, manager: Any, plugin_name: str) -> None:
        self.observer = observer
        self._manager = manager
        self._plugin_name = plugin_name
        self._server: Any = None
        self._thread: Any = None
        self.host: str | None = None
        self.port: int | None = None

    def _serve(self, where: MetricsSettings) -> None:
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector

        served = self.observer.registry
        if os.environ.get(MULTIPROC_ENV):
            # Every process's samples from the shared directory, plus this process's
            # scrape-time gauges (a callback cannot live in a file).
            served = CollectorRegistry()
            MultiProcessCollector(served)  # type: ignore[no-untyped-call]
            served.register(self.observer.state)
        try:
            self._server, self._thread = start_http_server(where.port, where.host, served)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {where.address}: {exc.strerror}; pick another port",
                key="connectors.metrics",
            ) from None
        self.host, self.port = where.host, int(self._server.server_port)

    @property
    def url(self) -> str | None:
        """``http://host:port/metrics``, or None when not serving."""
        if self.port is None:
            return None
        return f"http://{self.host}:{self.port}/metrics"

    def watch_rate_budget(self, account: str, pool: str, used: Callable[[], float]) -> None:
        """Export ``qmtl_rate_budget_used{account,pool}`` = ``used()`` at each scrape (0 to 1)."""
        self.observer.watch_rate_budget(account, pool, used)

    def watch_journal(self, unresolved: Callable[[], float]) -> None:
        """Export ``qmtl_journal_unresolved`` = ``unresolved()`` at each scrape."""
        self.observer.watch_journal(unresolved)

    def watch_client(self, client: Any) -> None:
        """Export the state gauges of a brokerage ``client``: ``qmtl_journal_unresolved``
        from its ``journal`` and ``qmtl_rate_budget_used{account,pool}`` from its
        ``rate_budget`` (each when it has one). ``load_connectors`` calls this for the
        client it builds; call it yourself for a client built by hand, after giving it
        its journal."""
        journal = getattr(client, "journal", None)
        if journal is not None:
            self.observer.watch_journal(journal.unresolved_count)
        budget = getattr(client, "rate_budget", None)
        if budget is not None:
            self.observer.watch_budget(budget)

    def close(self) -> None:
        """Stop serving and stop observing; safe to call twice."""
        if self._manager.get_plugin(self._plugin_name) is not None:
            self._manager.unregister(name=self._plugin_name)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def __enter__(self) -> MetricsExporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MetricsExporter(url={self.url!r})"


def enable_metrics(
    port: int | None = None,
    *,
    address: str | None = None,
    registry: Registry | None = None,
    serve: bool = True,
) -> MetricsExporter:
    """Count every order and feed event of ``registry`` (default: the process's) and
    serve them at ``http://127.0.0.1:{port}/metrics`` (or ``address``, ``host:port``).

    ``serve=False`` only observes: for a worker in prometheus_client's multiprocess
    mode whose samples another process serves. Raises ``ConfigError`` when the
    ``qmtl-core[metrics]`` extra is missing or the port cannot be bound.
    """
    where = settings(port, address=address)
    observer = _observer_module().MetricsObserver()
    if registry is None:
        from qmtl_core.registry import default_registry

        registry = default_registry()
    manager = registry.plugin_manager
    name = f"qmtl-core.metrics-{id(observer):x}"
    exporter = MetricsExporter(observer, manager, name)
    manager.register(observer, name=name)
    if serve:
        try:
            exporter._serve(where)
        except BaseException:
            exporter.close()
            raise
    return exporter
