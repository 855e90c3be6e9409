"""`parse-vos eval`."""

from __future__ import annotations

import argparse

from parse_vos_ros.cli import NotImplementedYet

HELP = "Run the engine on a benchmark dataset and write metrics, a report and plots."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options until the command lands."""


def run(args: argparse.Namespace) -> int:
    raise NotImplementedYet("eval", 7)
