"""`parse-vos parse`."""

from __future__ import annotations

import argparse

from parse_vos_ros.cli import NotImplementedYet

HELP = "Parse a referring sentence into candidates, context, motion, pose and cardinality."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options until the command lands."""


def run(args: argparse.Namespace) -> int:
    raise NotImplementedYet("parse", 4)
