"""QMTL live and brokerage connectors.

Core names import directly. The seed's connector names (``HttpBrokerageClient``,
``WebSocketFeed`` ...) resolve lazily through the plugin registry, so importing
``qmtl_core`` loads no connector code and a missing plugin says what to install.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qmtl_core.brokerage import BaseBrokerageClient, BrokerageClient, Capabilities, OcoSupport
    from qmtl_core.config import Connectors, load_connectors
    from qmtl_core.errors import (
        AuthenticationError,
        BrokerageError,
        ConfigError,
        FeedError,
        OrderNotCancelable,
        OrderNotFound,
        OrderRejected,
        OrderStatusUnknown,
        OrderValidationError,
        PluginError,
        QmtlConnectorError,
        RateLimited,
        TransientError,
        UnknownConnectorError,
        VenueProtocolError,
    )
    from qmtl_core.execution import RetryPolicy
    from qmtl_core.feeds import LiveDataFeed
    from qmtl_core.journal import OrderJournal, open_journal
    from qmtl_core.metrics import MetricsExporter, enable_metrics
    from qmtl_core.oco import OCOOrder, OcoResult
    from qmtl_core.orders import Order, OrderAck, OrderStatus, validate_order
    from qmtl_core.redaction import Secret
    from qmtl_core.runner import Runner, SubmitResult

# Core names import on first use, so `qmtl-connectors plugins` stays quick to start.
_CORE_MODULES = {
    "brokerage": ("BaseBrokerageClient", "BrokerageClient", "Capabilities", "OcoSupport"),
    "config": ("Connectors", "load_connectors"),
    "errors": (
        "AuthenticationError",
        "BrokerageError",
        "ConfigError",
        "FeedError",
        "OrderNotCancelable",
        "OrderNotFound",
        "OrderRejected",
        "OrderStatusUnknown",
        "OrderValidationError",
        "PluginError",
        "QmtlConnectorError",
        "RateLimited",
        "TransientError",
        "UnknownConnectorError",
        "VenueProtocolError",
    ),
    "execution": ("RetryPolicy",),
    "feeds": ("LiveDataFeed",),
    "metrics": ("MetricsExporter", "enable_metrics"),
    "journal": ("OrderJournal", "open_journal"),
    "oco": ("OCOOrder", "OcoResult"),
    "orders": ("Order", "OrderAck", "OrderStatus", "validate_order"),
    "redaction": ("Secret",),
    "runner": ("Runner", "SubmitResult"),
}
_CORE = {name: module for module, names in _CORE_MODULES.items() for name in names}

__all__ = [
    "AuthenticationError",
    "BaseBrokerageClient",
    "BrokerageClient",
    "BrokerageError",
    "Capabilities",
    "CcxtBrokerageClient",
    "ConfigError",
    "Connectors",
    "FakeBrokerageClient",
    "FakeLiveDataFeed",
    "FeedError",
    "FuturesCcxtBrokerageClient",
    "HttpBrokerageClient",
    "LiveDataFeed",
    "MetricsExporter",
    "OCOOrder",
    "OcoResult",
    "OcoSupport",
    "Order",
    "OrderAck",
    "OrderJournal",
    "OrderNotCancelable",
    "OrderNotFound",
    "OrderRejected",
    "OrderStatus",
    "OrderStatusUnknown",
    "OrderValidationError",
    "PluginError",
    "QmtlConnectorError",
    "RateLimited",
    "RetryPolicy",
    "Runner",
    "Secret",
    "SubmitResult",
    "TradeExecutionService",
    "TransientError",
    "UnknownConnectorError",
    "VenueProtocolError",
    "WebSocketClient",
    "WebSocketFeed",
    "enable_metrics",
    "load_connectors",
    "make_ccxt_brokerage",
    "open_journal",
    "validate_order",
]


def _is_submodule(name: str) -> bool:
    here = Path(__file__).parent
    return (here / f"{name}.py").is_file() or (here / name / "__init__.py").is_file()


def __getattr__(name: str) -> Any:
    """Resolve plugin-provided public names (``from qmtl_core import WebSocketFeed``).

    A seed name whose plugin is missing raises ImportError naming the package to
    install; any other unknown name is a plain AttributeError, as tools expect.
    """
    if name in _CORE:
        return getattr(import_module(f"qmtl_core.{_CORE[name]}"), name)
    if _is_submodule(name):
        # ``from qmtl_core import runtime`` before it was imported: let the import
        # system load the submodule instead of building the registry mid-import.
        raise AttributeError(name)
    from qmtl_core.registry import BUILTIN_EXPORTS, default_registry

    registry = default_registry()
    if name in BUILTIN_EXPORTS or registry.has_export(name):
        return registry.export(name)
    raise AttributeError(f"module 'qmtl_core' has no attribute {name!r}")
