"""`parse-vos bench`."""

from __future__ import annotations

import argparse

from parse_vos_ros.cli import NotImplementedYet

HELP = "Measure throughput, latency and memory and write JSON."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options until the command lands."""


def run(args: argparse.Namespace) -> int:
    raise NotImplementedYet("bench", 8)
