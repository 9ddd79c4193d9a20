"""Docs stay true: every hook is documented, and every Python block in docs/ runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qmtl_core import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def hook_names() -> list[str]:
    return [
        name
        for name, obj in vars(hookspecs).items()
        if callable(obj) and hasattr(obj, f"{hookspecs.PROJECT}_spec")
    ]


def test_every_hook_has_a_section_with_a_runnable_example() -> None:
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, re.DOTALL | re.MULTILINE))
    assert hook_names(), "no hookspecs found"
    for name in hook_names():
        assert name in sections, f"hook {name} is not documented in docs/hooks.md"
        assert "```python" in sections[name], f"hook {name} has no runnable example"


@pytest.mark.parametrize("doc", sorted(p.name for p in DOCS.glob("*.md")))
def test_python_blocks_run(doc: str) -> None:
    namespace: dict[str, object] = {"__name__": f"docs.{doc}"}
    for number, block in enumerate(python_blocks(DOCS / doc), 1):
        code = compile(block, f"docs/{doc} (python block {number})", "exec")
        exec(code, namespace)  # running our own documentation is the point


def test_configuration_reference_is_current() -> None:
    from qmtl_core.config_reference import render
    from qmtl_core.registry import BUILTIN_DISTRIBUTIONS, default_registry

    builtin = set(BUILTIN_DISTRIBUTIONS.values())
    specs = [s for s in default_registry().connectors() if s.distribution in builtin]
    expected = render(specs)
    current = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert current == expected, (
        "docs/configuration.md is stale: regenerate it with "
        "`qmtl-connectors config-reference --builtin > docs/configuration.md`"
    )
    for spec in specs:
        for option in spec.options:
            assert f"`{option.name}`" in current
