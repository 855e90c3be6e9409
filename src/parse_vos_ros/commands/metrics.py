"""`parse-vos metrics`."""

from __future__ import annotations

import argparse

from parse_vos_ros.cli import NotImplementedYet

HELP = "J&F of predicted masks against ground-truth masks (DAVIS definition)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options until the command lands."""


def run(args: argparse.Namespace) -> int:
    raise NotImplementedYet("metrics", 7)
