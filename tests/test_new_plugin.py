"""``qmtl-connectors new-plugin``: what it refuses, what it writes, and that the written
code passes ruff, ruff format and mypy --strict (the fresh-virtualenv run of the
generated tests is in test_new_plugin_venv.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qmtl_core.cli import main
from qmtl_core.errors import NewPluginError
from qmtl_core.scaffold.generate import MAX_NAME_LENGTH, new_plugin

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LONGEST = "a" + "-b2" * ((MAX_NAME_LENGTH - 1) // 3)  # as long as names get


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Acme", "e.g. 'acme'"),
        ("acme_fx", "e.g. 'acme-fx'"),
        ("acme fx", "lower-case letters, digits and single hyphens"),
        ("1acme", "starting with a letter"),
        ("acme-", "e.g. 'acme'"),
        ("a--b", "e.g. 'a-b'"),
        ("", "not valid"),
        ("acme=1", "not valid"),  # '=' ends an entry-point name
        ("qmtl-plugin-acme", "without the 'qmtl-plugin-' prefix: 'acme'"),
        ("a" * (MAX_NAME_LENGTH + 1), f"at most {MAX_NAME_LENGTH}"),
    ],
)
def test_refuses_a_name_that_is_not_a_valid_distribution_and_entry_point_name(
    tmp_path: Path, name: str, says: str
) -> None:
    with pytest.raises(NewPluginError, match=says.replace("(", r"\(")):
        new_plugin(name, "brokerage", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "kind", "owner"),
    [
        ("fake", "feed", "qmtl-plugin-fake"),  # a feed and a brokerage of that name exist
        ("http", "feed", "brokerage connector 'http'"),  # another kind's name, still taken
        ("ccxt-futures", "brokerage", "qmtl-plugin-ccxt-futures"),
        ("position-limit", "brokerage", "qmtl-plugin-position-limit"),  # a third party's
    ],
)
def test_refuses_a_name_an_installed_connector_uses(
    tmp_path: Path, name: str, kind: str, owner: str
) -> None:
    with pytest.raises(NewPluginError, match=f"already used by .*{owner}"):
        new_plugin(name, kind, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_refuses_a_target_folder_that_exists_and_leaves_it_alone(tmp_path: Path) -> None:
    existing = tmp_path / "qmtl-plugin-acme"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep me")
    with pytest.raises(NewPluginError, match="qmtl-plugin-acme already exists; remove it"):
        new_plugin("acme", "feed", tmp_path)
    assert [p.name for p in existing.iterdir()] == ["mine.txt"]


def test_cli_refusal_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    out = subprocess.run(
        [BIN / "qmtl-connectors", "new-plugin", "fake", "--kind", "feed", "--dir", tmp_path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: the name 'fake' is already used by")
    assert "Traceback" not in out.stderr and len(out.stderr.splitlines()) == 1


def test_cli_writes_the_distribution_and_says_what_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-plugin", "acme", "--kind", "brokerage", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "qmtl-plugin-acme"
    written = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert written == [
        ".github/workflows/ci.yml",
        ".gitignore",
        "README.md",
        "pyproject.toml",
        "qmtl_plugin_acme/__init__.py",
        "qmtl_plugin_acme/brokerage.py",
        "qmtl_plugin_acme/config.py",
        "qmtl_plugin_acme/py.typed",
        "qmtl_plugin_acme/venue.py",
        "tests/test_conformance.py",
    ]
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points."qmtl.connectors"]\nacme = "qmtl_plugin_acme"' in pyproject
    assert '"brokerage:acme" = "qmtl_plugin_acme.brokerage:AcmeBrokerage"' in pyproject
    assert "api_key: ${ACME_API_KEY}" in (root / "README.md").read_text()
    assert "${{ matrix.python-version }}" in (root / ".github/workflows/ci.yml").read_text()
    assert f"pip install -e '{root}[test]'" in capsys.readouterr().out


def test_listing_plugins_does_not_import_the_generator() -> None:
    code = (
        "import sys\n"
        "from qmtl_core.cli import build_parser\n"
        "from qmtl_core.registry import default_registry\n"
        "build_parser(default_registry()).parse_args(['plugins'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('qmtl_core.scaffold')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['qmtl_core.scaffold']"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Both kinds, with a short name and with the longest name allowed."""
    root = tmp_path_factory.mktemp("generated")
    return [
        new_plugin(name, kind, root).path
        for kind in ("brokerage", "feed")
        for name in (f"x{kind[0]}", f"{LONGEST[:-1]}{kind[0]}")
    ]


def run_tool(*args: str | Path, cwd: Path, **env: str) -> str:
    out = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )
    assert out.returncode == 0, f"{args[0]} in {cwd.name}:\n{out.stdout}{out.stderr}"
    return out.stdout


def test_generated_code_passes_ruff_and_ruff_format(generated: list[Path]) -> None:
    for folder in generated:
        run_tool(BIN / "ruff", "check", "--no-cache", ".", cwd=folder)
        run_tool(BIN / "ruff", "format", "--no-cache", "--check", ".", cwd=folder)


def test_generated_code_passes_mypy_strict(
    generated: list[Path], request: pytest.FixtureRequest
) -> None:
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    cache_dir = cache.mkdir("mypy-new-plugin") if cache else generated[0].parent / "mypy"
    for folder in generated[1::2]:  # the long names; code is the same for short ones
        # The core from this checkout (an editable install hides it from mypy).
        out = run_tool(BIN / "mypy", "--cache-dir", cache_dir, cwd=folder, MYPYPATH=str(REPO))
        assert "Success: no issues found in 5 source files" in out
