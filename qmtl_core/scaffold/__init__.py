"""``qmtl-connectors new-plugin``: write a new connector plugin distribution.

Only the sub-command's arguments live here, so listing plugins stays fast; the
generator (:mod:`qmtl_core.scaffold.generate`) and its templates are read when the
command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qmtl_core.errors import NewPluginError

KINDS = ("brokerage", "feed")


def add_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``new-plugin NAME --kind brokerage|feed [--dir PATH]`` to the CLI."""
    parser = subparsers.add_parser(
        "new-plugin",
        help="write a new plugin distribution qmtl-plugin-NAME, conformance tests and CI included",
        description=(
            "Write qmtl-plugin-NAME/: a connector on the current plugin contract (typed "
            "config, registration, entry points), a README saying what to replace, tests "
            "that run qmtl's conformance kit, and a CI workflow. It works as generated: "
            "pip install ./qmtl-plugin-NAME, then `qmtl-connectors plugins` lists NAME."
        ),
    )
    parser.add_argument(
        "name", metavar="NAME", help="connector name, e.g. acme (lower case, digits, hyphens)"
    )
    parser.add_argument("--kind", required=True, choices=KINDS, help="what the connector is")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(),
        metavar="PATH",
        help="folder to write qmtl-plugin-NAME/ in (default: the current folder)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the plugin; an unusable name or an existing folder is a one-line error."""
    from qmtl_core.scaffold.generate import new_plugin

    try:
        written = new_plugin(args.name, args.kind, args.dir)
    except NewPluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written.path}/ ({args.kind} '{args.name}'):")
    for file in written.files:
        print(f"  {file}")
    print(
        f"\nnext:\n  pip install -e '{written.path}[test]'\n  cd {written.path} && pytest\n"
        f"then read {written.path / 'README.md'}: it says what to replace."
    )
    return 0
