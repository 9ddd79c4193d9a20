"""The plugin generator: a name checked for clashes, templates rendered, files written.

Templates are package data (``templates/<common|brokerage|feed>/*.tmpl``), rendered
with :class:`string.Template` (``$name``; ``$$`` is a literal dollar). What they
produce is tested to pass ruff, ruff format, mypy --strict and the conformance kit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from string import Template

from qmtl_core.errors import NewPluginError
from qmtl_core.plugins import PROVIDES_GROUP
from qmtl_core.registry import Registry, default_registry

#: The distribution of a plugin named NAME is ``qmtl-plugin-NAME``.
PREFIX = "qmtl-plugin-"
#: Longest name: the generated code's longest lines stay within 100 characters.
MAX_NAME_LENGTH = 20
_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
#: The modules of each kind besides ``__init__`` and ``config``: the stand-in for the
#: venue or stream, and the connector.
_MODULES = {"brokerage": ("venue", "brokerage"), "feed": ("source", "feed")}


@dataclass(frozen=True)
class Written:
    """What :func:`new_plugin` wrote: the distribution's folder and its files."""

    path: Path
    files: tuple[str, ...]


def new_plugin(
    name: str, kind: str, directory: Path, *, registry: Registry | None = None
) -> Written:
    """Write the distribution ``qmtl-plugin-NAME`` for a ``kind`` connector in ``directory``.

    Raises :class:`NewPluginError` for a name that is not a valid distribution and
    entry-point name, one an installed connector or distribution already uses, or a
    target folder that exists; nothing is written then.
    """
    check_name(name, taken_names(registry or default_registry()))
    if kind not in _MODULES:
        raise NewPluginError(f"kind must be one of {', '.join(_MODULES)}, got {kind!r}")
    target = Path(directory) / f"{PREFIX}{name}"
    if target.exists():
        raise NewPluginError(
            f"{target} already exists; remove it or write elsewhere with --dir PATH"
        )
    files = render(name, kind)
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return Written(target, tuple(files))


def check_name(name: str, taken: Mapping[str, str]) -> None:
    """Refuse a name that cannot be the connector's, entry point's and distribution's."""
    if name.startswith(PREFIX):
        raise NewPluginError(
            f"give the connector name without the '{PREFIX}' prefix: "
            f"'{name.removeprefix(PREFIX)}' makes the distribution {name}"
        )
    if not _NAME.fullmatch(name):
        suggestion = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        hint = f", e.g. '{suggestion}'" if _NAME.fullmatch(suggestion) else ""
        raise NewPluginError(
            f"plugin name {name!r} is not valid: use lower-case letters, digits and single "
            f"hyphens, starting with a letter{hint}. It becomes the connector name in "
            f"qmtl.yml, the entry point and the distribution {PREFIX}NAME"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise NewPluginError(
            f"plugin name {name!r} is {len(name)} characters long; use at most {MAX_NAME_LENGTH}"
        )
    if name in taken:
        raise NewPluginError(
            f"the name '{name}' is already used by {taken[name]}; pick another name"
        )


def taken_names(registry: Registry) -> dict[str, str]:
    """Connector names in use, with who uses them: the registry's connectors, names
    declared by installed distributions (``qmtl.provides``, also for plugins that are
    blocked or failed to load), and installed ``qmtl-plugin-*`` distributions."""
    taken: dict[str, str] = {}
    for spec in registry.connectors():
        owner = spec.distribution or spec.plugin
        taken.setdefault(spec.name, f"the installed {spec.kind} connector '{spec.name}' ({owner})")
    for entry in metadata.entry_points(group=PROVIDES_GROUP):
        kind, _, connector = entry.name.partition(":")
        if kind in _MODULES and connector:
            owner = entry.dist.name if entry.dist is not None else entry.value
            taken.setdefault(connector, f"the {kind} connector '{connector}' of {owner}")
    for dist in metadata.distributions():
        dist_name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if dist_name.startswith(PREFIX):
            taken.setdefault(
                dist_name.removeprefix(PREFIX), f"the installed distribution {dist_name}"
            )
    return taken


def render(name: str, kind: str) -> dict[str, str]:
    """The files of the distribution, by path relative to its folder."""
    prefix = "".join(part.capitalize() for part in name.split("-"))
    package = "qmtl_plugin_" + name.replace("-", "_")
    module = _MODULES[kind][1]
    values = {
        "name": name,
        "env": name.upper().replace("-", "_"),
        "kind": kind,
        "distribution": PREFIX + name,
        "package": package,
        "prefix": prefix,
        "module": module,
        "cls": prefix + module.capitalize(),
        "core": f"qmtl-core>={metadata.version('qmtl-core')}",
    }
    layout = [
        ("pyproject.toml", "common/pyproject.toml.tmpl"),
        ("README.md", f"{kind}/README.md.tmpl"),
        (".gitignore", "common/gitignore.tmpl"),
        (".github/workflows/ci.yml", "common/ci.yml.tmpl"),
        *(
            (f"{package}/{m}.py", f"{kind}/{m}.py.tmpl")
            for m in ("__init__", "config", *_MODULES[kind])
        ),
        (f"{package}/py.typed", None),
        ("tests/test_conformance.py", f"{kind}/test_conformance.py.tmpl"),
    ]
    templates = resources.files("qmtl_core.scaffold") / "templates"
    return {
        path: ""
        if template is None
        else Template((templates / template).read_text(encoding="utf-8")).substitute(values)
        for path, template in layout
    }
