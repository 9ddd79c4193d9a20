"""Plugin discovery reads metadata files directly, and finds what importlib_metadata finds."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from qmtl_core.entry_points import _from_importlib_metadata, installed
from qmtl_core.plugins import PROVIDES_GROUP, make_plugin_manager

MakeDist = Callable[..., None]
GROUPS = ("qmtl.connectors", PROVIDES_GROUP, "console_scripts")


def test_the_installed_entry_points_are_those_importlib_metadata_finds() -> None:
    for group in GROUPS:
        assert installed(group) == _from_importlib_metadata(group, None)
    fake = [ep for ep in installed("qmtl.connectors") if ep.name == "fake"]
    assert [(ep.value, ep.dist and ep.dist.name) for ep in fake] == [
        ("qmtl_plugin_fake", "qmtl-plugin-fake")
    ]


def test_a_distribution_earlier_on_sys_path_shadows_the_same_name_later(
    make_dist: MakeDist,
) -> None:
    make_dist("qmtl-plugin-fake", {"thirdparty_shadow": ""}, {"fake": "thirdparty_shadow"}, "9.9")
    for group in GROUPS:
        assert installed(group) == _from_importlib_metadata(group, None)
    fake = [ep for ep in installed("qmtl.connectors") if ep.name == "fake"]
    assert [(ep.value, ep.dist and ep.dist.version) for ep in fake] == [
        ("thirdparty_shadow", "9.9")
    ]


def test_a_plugin_installed_in_a_zip_on_sys_path_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("thirdparty_zipped.py", "")
        info = "thirdparty_zipped-1.0.dist-info"
        zipped.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: thirdparty-zipped\nVersion: 1.0\n"
        )
        zipped.writestr(
            f"{info}/entry_points.txt", "[qmtl.connectors]\nzipped = thirdparty_zipped\n"
        )
    monkeypatch.syspath_prepend(str(archive))
    plugins = make_plugin_manager(env={"QMTL_LOAD_PLUGINS": "zipped"})
    sys.modules.pop("thirdparty_zipped", None)
    assert [(p.name, p.distribution) for p in plugins.loaded] == [("zipped", "thirdparty-zipped")]


def test_listing_connectors_imports_no_metadata_or_email_parser() -> None:
    code = (
        "import contextlib, io, json, sys\n"
        "from qmtl_core.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['plugins'])\n"
        "heavy = ('importlib_metadata', 'importlib.metadata', 'email', 'zipfile')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert json.loads(out.stdout) == []
