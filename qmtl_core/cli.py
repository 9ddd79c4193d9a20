"""``qmtl-connectors``: list plugins, check a qmtl.yml, run the demo.

Plugins add their own sub-commands through the ``register_commands`` hook.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qmtl_core.errors import ConfigError, ConfigErrors, PluginError
from qmtl_core.registry import Registry, default_registry

if TYPE_CHECKING:
    from qmtl_core.journal import OrderJournal


#: The top-level ``--help`` text (plain, unlike the module docstring).
DESCRIPTION = (
    "QMTL connectors: list the installed connector plugins, check a qmtl.yml, show the\n"
    "order journal, run the demo. Installed plugins add more commands (serve-broker,\n"
    "serve-gateway ...). Run `qmtl-connectors COMMAND --help` for a command's options."
)
_VERBOSE_HELP = "log connector events"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def cmd_plugins(args: argparse.Namespace) -> int:
    registry = default_registry()
    rows = [("KIND", "NAME", "DISTRIBUTION", "VERSION", "OCO", "SUMMARY")]
    for spec in registry.connectors():
        rows.append(
            (
                spec.kind,
                spec.name,
                spec.distribution or spec.plugin,
                spec.version or "-",
                spec.oco or "-",
                spec.summary,
            )
        )
    print(_table(rows))
    failures = registry.plugins.failures
    if failures:
        print("\nplugins that failed to load:")
        for failure in failures:
            where = f"{failure.entry_point}, {failure.distribution or '?'}"
            print(f"  {failure.name} ({where}): {failure.error}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from ruamel.yaml import YAML

    from qmtl_core.config import parse_connectors

    try:
        config = parse_connectors(args.config)
    except ConfigErrors as exc:
        print(f"{len(exc.errors)} errors:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"1 error:\n  {exc}", file=sys.stderr)
        return 1
    print(f"{args.config}: OK")
    YAML(typ="rt").dump({"connectors": config.dump()}, sys.stdout)  # block style, key order kept
    return 0


def cmd_config_reference(args: argparse.Namespace) -> int:
    from qmtl_core.config_reference import render

    sys.stdout.write(render(default_registry()))
    return 0


def cmd_orders(args: argparse.Namespace) -> int:
    """List the journal's orders and their states; with ``--follow``, tail its events."""
    from qmtl_core.journal import open_journal
    from qmtl_core.state import default_state_url

    try:
        journal = open_journal(args.state or default_state_url())
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        rows = [("CLIENT_ORDER_ID", "STATE", "STATUS", "VENUE_ID", "CONNECTOR", "SYMBOL", "SIDE")]
        for entry in journal.entries():
            ack = entry.ack
            rows.append(
                (
                    entry.client_order_id,
                    entry.state,
                    ack.status.value if ack else "-",
                    ack.id if ack else "-",
                    entry.connector,
                    entry.order.symbol,
                    f"{entry.order.side.value} {entry.order.quantity}",
                )
            )
        print(_table(rows))
        if args.follow:
            _follow(journal, args.poll)
    except KeyboardInterrupt:
        pass
    finally:
        journal.close()
    return 0


def _follow(journal: OrderJournal, poll: float) -> None:
    import time

    last = journal.events(limit=1_000_000)
    after = last[-1].id if last else None
    while True:
        for event in journal.events(after=after):
            after = event.id
            print(
                f"{event.time:.3f} {event.client_order_id} {event.state} "
                f"status={event.status or '-'} venue_id={event.venue_id or '-'} "
                f"connector={event.connector} {event.reason}".rstrip(),
                flush=True,
            )
        time.sleep(poll)


def _examples_dir(given: str | None) -> Path:
    candidates = (
        [Path(given)] if given else [Path("examples"), Path(__file__).parents[1] / "examples"]
    )
    for candidate in candidates:
        if (candidate / "demo.py").is_file():
            return candidate
    raise SystemExit(
        "error: the demo runs the examples of the qmtl-connectors source checkout, which the "
        "installed packages do not include (looked in: "
        + ", ".join(str(c) for c in candidates)
        + "); run `qmtl-connectors demo` (or `make demo`) in a clone of the repository, "
        "or pass --examples DIR pointing at its examples/ folder"
    )


def cmd_demo(args: argparse.Namespace) -> int:
    import runpy

    examples = _examples_dir(args.examples)
    sys.argv = [str(examples / "demo.py")]
    runpy.run_path(str(examples / "demo.py"), run_name="__main__")
    return 0


def build_parser(registry: Registry) -> argparse.ArgumentParser:
    """The ``qmtl-connectors`` parser: the core's commands plus the plugins' (hook)."""
    parser = argparse.ArgumentParser(
        prog="qmtl-connectors",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help=_VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "plugins",
        help="list installed connectors and failed plugins",
        description="List the connectors the installed plugins register (kind, name, "
        "distribution, version, OCO support), then the plugins that failed to load and why.",
    ).set_defaults(func=cmd_plugins, logs=False)
    check = sub.add_parser(
        "check",
        help="validate a qmtl.yml and print it, secrets redacted",
        description="Validate a qmtl.yml against the installed connectors without "
        "connecting to anything; print every error with its file and line, or the "
        "resolved config with secrets redacted.",
    )
    check.add_argument("config", help="path to qmtl.yml")
    check.set_defaults(func=cmd_check)
    reference = sub.add_parser(
        "config-reference",
        help="print the qmtl.yml reference of the loaded connectors (QMTL_LOAD_PLUGINS picks)",
    )
    reference.set_defaults(func=cmd_config_reference)
    orders = sub.add_parser("orders", help="list the order journal's orders; tail its events")
    orders.add_argument(
        "--state", help="state URL (default: the default SQLite file, see docs/state.md)"
    )
    orders.add_argument("--follow", action="store_true", help="then print new events as they come")
    orders.add_argument("--poll", type=float, default=0.2, help=argparse.SUPPRESS)
    orders.set_defaults(func=cmd_orders)
    demo = sub.add_parser("demo", help="run the demo strategy on the offline connectors")
    demo.add_argument("--examples", help="the examples directory (default: ./examples)")
    demo.set_defaults(func=cmd_demo)
    from qmtl_core.scaffold import add_command as add_new_plugin_command

    add_new_plugin_command(sub)
    registry.plugin_manager.hook.register_commands(subparsers=sub)
    for command in sub.choices.values():  # `check -v f.yml` as well as `-v check f.yml`
        try:
            command.add_argument(
                "-v",
                "--verbose",
                action="store_true",
                default=argparse.SUPPRESS,
                help=_VERBOSE_HELP,
            )
        except argparse.ArgumentError:  # the command has its own -v
            pass
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        registry = default_registry()
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = build_parser(registry).parse_args(argv)
    if getattr(args, "logs", True):
        # Listing runs no connector code, so it skips this: importing logging is about
        # a tenth of its start-up.
        import logging

        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    try:
        return int(args.func(args))
    except PluginError as exc:  # e.g. a command's optional dependency is missing
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `qmtl-connectors check f.yml | head`: the reader left
        # Python flushes stdout at exit; point it at /dev/null so that flush is quiet.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a command killed by SIGPIPE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
