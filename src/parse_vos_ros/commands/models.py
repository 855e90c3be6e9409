"""`parse-vos models`."""

from __future__ import annotations

import argparse

from parse_vos_ros.cli import NotImplementedYet

HELP = "Download and verify the paper's model weights."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options until the command lands."""


def run(args: argparse.Namespace) -> int:
    raise NotImplementedYet("models", 5)
