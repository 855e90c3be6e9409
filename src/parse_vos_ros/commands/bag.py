"""`parse-vos bag`."""

from __future__ import annotations

import argparse

from parse_vos_ros.cli import NotImplementedYet
from parse_vos_ros.ros_env import ensure_ros

HELP = "Make, replay, record and evaluate rosbag2 files."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options until the command lands."""


def run(args: argparse.Namespace) -> int:
    ensure_ros()
    raise NotImplementedYet("bag", 6)
