"""Header stamps as seconds, without importing any ROS package (``depth_input`` runs in tests
that have no ROS message packages)."""

from __future__ import annotations

from typing import Any


def stamp_seconds(header: Any) -> float:
    """A std_msgs/Header's stamp in seconds (float)."""
    return float(header.stamp.sec) + float(header.stamp.nanosec) * 1e-9
