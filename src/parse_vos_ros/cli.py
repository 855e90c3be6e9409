"""The ``parse-vos`` command line: one module per subcommand in ``parse_vos_ros.commands``.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their subcommand runs, so ``parse-vos parse`` never imports torch
or ROS.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import parse_vos_ros

SUBCOMMANDS = ("segment", "parse", "metrics", "eval", "synth", "bench", "node", "bag", "models")


class NotImplementedYet(SystemExit):
    """Raised by a subcommand whose issue has not landed yet (exit code 3)."""

    def __init__(self, what: str, issue: int) -> None:
        print(f"parse-vos {what}: not implemented yet (tracked in issue {issue})", file=sys.stderr)
        super().__init__(3)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand's options."""
    parser = argparse.ArgumentParser(
        prog="parse-vos",
        description="Streaming referring video object segmentation (PARSE-VOS) for ROS 2.",
    )
    version = getattr(parse_vos_ros, "__version__", "unknown")
    parser.add_argument("--version", action="version", version=f"parse-vos {version}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"parse_vos_ros.commands.{name}")
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``parse-vos``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


def node_main() -> int:
    """Entry point of ``parse_vos_node`` (same as ``parse-vos node``)."""
    return main(["node", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
