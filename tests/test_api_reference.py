"""The API reference: every public name is documented, listed, and the site builds.

Public names are the core's (``qmtl_core.__all__``) and the names this repository's
plugins export. The site is built in this process with ``--strict`` while every
connection beyond loopback fails, so a theme or plugin that fetches breaks the test.
"""

from __future__ import annotations

import inspect
import re
import socket
from pathlib import Path
from typing import Any

import pytest

import qmtl_core
from qmtl_core.registry import default_registry

ROOT = Path(__file__).resolve().parents[1]
OURS = ("qmtl_core", "qmtl_plugin_", "qmtl_ccxt_common")


def _public() -> dict[str, Any]:
    """Public name -> object, for the core and this repository's plugins."""
    objects = {name: getattr(qmtl_core, name) for name in qmtl_core.__all__}
    return {name: obj for name, obj in objects.items() if obj.__module__.startswith(OURS)}


def _undocumented(name: str, obj: Any) -> list[str]:
    missing = [] if (obj.__doc__ or "").strip() else [name]
    if inspect.isclass(obj) and not issubclass(obj, BaseException):
        for attr, value in vars(obj).items():
            if attr.startswith("_"):
                continue
            member = value.fget if isinstance(value, property) else value
            member = getattr(member, "__func__", member)  # classmethod, staticmethod
            if (inspect.isfunction(member) or isinstance(value, property)) and not (
                member.__doc__ or ""
            ).strip():
                missing.append(f"{name}.{attr}")
    return missing


def test_the_public_names_include_the_core_and_every_plugin_export() -> None:
    names = set(_public())
    assert {"Runner", "load_connectors", "Order", "OCOOrder", "Secret"} <= names
    assert {"FakeBrokerageClient", "WebSocketFeed", "HttpBrokerageClient"} <= names
    assert {"CcxtBrokerageClient", "FuturesCcxtBrokerageClient"} <= names


def test_every_public_name_and_its_methods_have_a_docstring() -> None:
    missing = [m for name, obj in _public().items() for m in _undocumented(name, obj)]
    assert missing == [], f"public names without a docstring: {missing}"


def test_the_api_reference_lists_every_public_name() -> None:
    listed = set(re.findall(r"^::: (\S+)$", _api_pages(), re.MULTILINE))
    registry = default_registry()
    for name, obj in _public().items():
        where = f"{obj.__module__}.{obj.__qualname__}"
        if name in qmtl_core._CORE:
            where = f"qmtl_core.{qmtl_core._CORE[name]}.{name}"  # where the core keeps it
        elif registry.has_export(name):
            where = registry._exports[name].target.replace(":", ".")
        assert where in listed, f"{name} is missing from docs/api/: add '::: {where}'"


def _api_pages() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "docs" / "api").glob("*.md")))


def test_the_docs_site_builds_strict_and_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    real_connect = socket.socket.connect

    def loopback_only(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1"):
            raise AssertionError(f"the docs build tried to reach {address}")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    monkeypatch.setenv("NO_MKDOCS_2_WARNING", "1")
    monkeypatch.chdir(ROOT)
    config = load_config(str(ROOT / "mkdocs.yml"), strict=True, site_dir=str(tmp_path / "site"))
    build(config)  # strict: any warning (a broken link, a bad docstring) aborts
    page = (tmp_path / "site" / "api" / "core" / "index.html").read_text()
    assert "submit_order" in page and "OrderValidationError" in page
