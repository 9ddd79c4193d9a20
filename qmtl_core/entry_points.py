"""Entry points of one group, read from the installed distributions' metadata files.

Finding plugins must not cost more than the rest of ``qmtl-connectors`` start-up:
importing ``importlib_metadata`` (or the stdlib ``importlib.metadata``) pulls in
``email``, ``zipfile``, ``csv`` and ``importlib.resources``, and reading a
distribution's name parses its whole METADATA with the email parser. Here the usual
environment (``*.dist-info``/``*.egg-info`` in directories on ``sys.path``) is read
directly, with importlib_metadata's rules: the first distribution of a (normalised)
name on ``sys.path`` wins, one with metadata over one without, and ``name``/``version``
come from the METADATA (or PKG-INFO) headers. Anything else (a zip file or an ``.egg``
on ``sys.path``, a custom distribution finder) goes to ``importlib_metadata``, so the
answer is the same either way. Nothing is cached: an install or uninstall shows at the
next call.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterator
from importlib.machinery import PathFinder
from typing import Any, NamedTuple


def resolve(target: Any) -> Any:
    """Import a ``"module:attr.attr"`` string; pass anything else through."""
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


class Distribution(NamedTuple):
    """An installed distribution's ``Name`` and ``Version`` as its metadata states them."""

    name: str
    version: str


class EntryPoint(NamedTuple):
    """One ``name = module:attr`` line of a distribution's ``entry_points.txt``."""

    name: str
    value: str
    group: str
    dist: Distribution | None

    def load(self) -> Any:
        """Import the module and return the attribute the entry point names."""
        return resolve(re.sub(r"\s+", "", self.value.partition("[")[0]))


def installed(group: str, name: str | None = None) -> list[EntryPoint]:
    """The entry points of ``group`` (only those called ``name`` if given), in the order
    ``importlib_metadata.entry_points`` gives them."""
    if not _plain_environment():
        return _from_importlib_metadata(group, name)
    found = []
    for info in _distributions():
        for ep in _read_group(info, group):
            if name is None or ep.name == name:
                found.append(ep)
    return found


def _plain_environment() -> bool:
    """Whether every distribution comes from a directory on ``sys.path``."""
    for finder in sys.meta_path:
        if getattr(finder, "find_distributions", None) is None:
            continue
        # PathFinder and importlib_metadata's own finder both search sys.path.
        if finder is not PathFinder and type(finder).__module__ != "importlib_metadata":
            return False
    return not any(
        os.path.isfile(entry) or entry.lower().endswith(".egg")
        for entry in sys.path
        if isinstance(entry, str)
    )


def _normalize(name: str) -> str:
    """PEP 503 normalisation, dashes as underscores (importlib_metadata's ``Prepared``)."""
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _distributions() -> list[str]:
    """Metadata paths of the installed distributions, one per normalised name."""
    candidates = []
    for entry in sys.path:
        if not isinstance(entry, str):
            continue
        try:
            children = os.listdir(entry or ".")
        except OSError:
            continue
        by_name: dict[str, list[str]] = {}
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                name = _normalize(low.rpartition(".")[0].partition("-")[0])
                by_name.setdefault(name, []).append(os.path.join(entry, child))
        candidates += [(name, path) for name, paths in by_name.items() for path in paths]
    # Those with metadata first (importlib_metadata's ``_prefer_valid``), then unique names.
    candidates.sort(key=lambda candidate: not _has_metadata(candidate[1]))
    seen: set[str] = set()
    unique = []
    for name, path in candidates:
        if name not in seen:
            seen.add(name)
            unique.append(path)
    return unique


def _has_metadata(path: str) -> bool:
    return (
        os.path.exists(os.path.join(path, "METADATA"))
        or os.path.exists(os.path.join(path, "PKG-INFO"))
        or os.path.isfile(path)
    )


def _read(path: str, filename: str) -> str | None:
    try:
        with open(os.path.join(path, filename), encoding="utf-8") as file:
            return file.read()
    except OSError:
        return None


def _read_group(info: str, group: str) -> Iterator[EntryPoint]:
    """The entry points of ``group`` that the distribution at ``info`` declares."""
    text = _read(info, "entry_points.txt")
    if not text or f"[{group}]" not in text:
        return
    dist = _metadata(info)
    section = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
        elif section == group:
            name, _, value = line.partition("=")
            yield EntryPoint(name.strip(), value.strip(), group, dist)


def _metadata(info: str) -> Distribution | None:
    """``Name`` and ``Version`` from the headers of METADATA (or PKG-INFO)."""
    text = _read(info, "METADATA") or _read(info, "PKG-INFO")
    if text is None:
        return None
    headers: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the description follows the headers
        key, sep, value = line.partition(":")
        if sep and not line[0].isspace():
            headers.setdefault(key.strip().lower(), value.strip())
    if "name" not in headers or "version" not in headers:
        return None
    return Distribution(headers["name"], headers["version"])


def _from_importlib_metadata(group: str, name: str | None) -> list[EntryPoint]:
    import importlib_metadata

    selected = importlib_metadata.entry_points(group=group)
    return [
        EntryPoint(
            ep.name,
            ep.value,
            ep.group,
            Distribution(ep.dist.name, ep.dist.version) if ep.dist is not None else None,
        )
        for ep in selected
        if name is None or ep.name == name
    ]
