"""QMTL live and brokerage connectors.

Core names import on first use. The names plugins export (the seed's
``HttpBrokerageClient``, ``WebSocketFeed`` ...) resolve lazily through the plugin
registry, so importing ``qmtl_core`` loads no connector code, ``from qmtl_core import *``
gives the core plus whatever plugins are installed, and a name whose plugin is
installed but not loaded says which distribution provides it.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qmtl_core.aio import AsyncBrokerage as AsyncBrokerage
    from qmtl_core.brokerage import BaseBrokerageClient as BaseBrokerageClient
    from qmtl_core.brokerage import BrokerageClient as BrokerageClient
    from qmtl_core.brokerage import Capabilities as Capabilities
    from qmtl_core.brokerage import OcoSupport as OcoSupport
    from qmtl_core.config import Connectors as Connectors
    from qmtl_core.config import load_connectors as load_connectors
    from qmtl_core.errors import AuthenticationError as AuthenticationError
    from qmtl_core.errors import BrokerageError as BrokerageError
    from qmtl_core.errors import ConfigError as ConfigError
    from qmtl_core.errors import FeedError as FeedError
    from qmtl_core.errors import OrderNotCancelable as OrderNotCancelable
    from qmtl_core.errors import OrderNotFound as OrderNotFound
    from qmtl_core.errors import OrderRejected as OrderRejected
    from qmtl_core.errors import OrderStatusUnknown as OrderStatusUnknown
    from qmtl_core.errors import OrderValidationError as OrderValidationError
    from qmtl_core.errors import PluginError as PluginError
    from qmtl_core.errors import QmtlConnectorError as QmtlConnectorError
    from qmtl_core.errors import RateLimited as RateLimited
    from qmtl_core.errors import TransientError as TransientError
    from qmtl_core.errors import UnknownConnectorError as UnknownConnectorError
    from qmtl_core.errors import VenueProtocolError as VenueProtocolError
    from qmtl_core.execution import RetryPolicy as RetryPolicy
    from qmtl_core.feeds import LiveDataFeed as LiveDataFeed
    from qmtl_core.journal import OrderJournal as OrderJournal
    from qmtl_core.journal import open_journal as open_journal
    from qmtl_core.metrics import MetricsExporter as MetricsExporter
    from qmtl_core.metrics import enable_metrics as enable_metrics
    from qmtl_core.oco import OCOOrder as OCOOrder
    from qmtl_core.oco import OcoResult as OcoResult
    from qmtl_core.orders import Order as Order
    from qmtl_core.orders import OrderAck as OrderAck
    from qmtl_core.orders import OrderStatus as OrderStatus
    from qmtl_core.orders import validate_order as validate_order
    from qmtl_core.redaction import Secret as Secret
    from qmtl_core.runner import Runner as Runner
    from qmtl_core.runner import SubmitResult as SubmitResult

# Core names import on first use, so `qmtl-connectors plugins` stays quick to start.
_CORE_MODULES = {
    "aio": ("AsyncBrokerage",),
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


def _public_names() -> list[str]:
    """The core's public names plus those the loaded plugins export."""
    from qmtl_core.registry import default_registry

    return sorted({*_CORE, *default_registry().export_names()})


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
    if name == "__all__":  # ``from qmtl_core import *``: whatever is installed
        return _public_names()
    if _is_submodule(name):
        # ``from qmtl_core import runtime`` before it was imported: let the import
        # system load the submodule instead of building the registry mid-import.
        raise AttributeError(name)
    from qmtl_core.plugins import provider_hint
    from qmtl_core.registry import default_registry

    registry = default_registry()
    if registry.has_export(name) or provider_hint(f"export:{name}"):
        return registry.export(name)
    raise AttributeError(f"module 'qmtl_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names (tab completion), not this module's own helpers and imports."""
    return sorted({*_public_names(), *(name for name in globals() if name.startswith("__"))})
