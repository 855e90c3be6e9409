"""QoS choices of the node.

Images: depth 1 (only the newest frame matters), reliability matched to the camera's
publishers. Measured here with 640x480 rgb8 at 30 Hz over the default FastDDS transport:
reliable 180/180 frames delivered, best effort 1/180 (large samples are fragmented and one lost
fragment loses the frame), best effort with ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` 133/180.
So the subscriber is reliable whenever every publisher offers reliable (a best-effort
subscriber would downgrade a reliable camera to best effort), and best effort only when some
publisher is best effort (a reliable subscriber would not match it at all).
"""

from __future__ import annotations

from collections.abc import Iterable

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABLE = "reliable"
BEST_EFFORT = "best_effort"


def choose_image_reliability(offered: Iterable[ReliabilityPolicy], override: str = "auto") -> str:
    """Reliability for the image subscription.

    Args:
        offered: the reliability of each publisher currently on the image topic.
        override: ``ros.image_reliability``: "auto", "reliable" or "best_effort".

    Returns:
        "reliable" or "best_effort". With no publisher yet, "reliable" (the node re-checks when
        publishers appear).
    """
    if override in (RELIABLE, BEST_EFFORT):
        return override
    if override != "auto":
        raise ValueError(f"ros.image_reliability must be auto, reliable or best_effort, got {override!r}")
    offered = list(offered)
    if any(policy == ReliabilityPolicy.BEST_EFFORT for policy in offered):
        return BEST_EFFORT
    return RELIABLE


def image_qos(reliability: str) -> QoSProfile:
    """Depth-1 keep-last volatile QoS with the given reliability (latest frame wins)."""
    policy = ReliabilityPolicy.RELIABLE if reliability == RELIABLE else ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=1, reliability=policy, durability=DurabilityPolicy.VOLATILE
    )


def sensor_qos(depth: int = 5) -> QoSProfile:
    """Best-effort keep-last for side inputs (depth, camera_info): matches reliable and best-effort drivers."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


def output_qos(depth: int = 5) -> QoSProfile:
    """Reliable keep-last for outputs (target, mask, overlay): matches reliable and best-effort readers."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )


# Commands kept by the reader until the node's callback takes them. The callback only queues the
# text (the worker applies the newest), so it keeps up with a storm of 200 commands at 100 Hz;
# 100 deep covers a second of such a storm while the executor is busy elsewhere.
COMMAND_DEPTH = 100
# The reasoning trace (one JSON string per reasoning) keeps the depth every reliable output had.
REASONING_DEPTH = 10


def command_qos(depth: int = COMMAND_DEPTH) -> QoSProfile:
    """Reliable keep-last, ``depth`` deep (``COMMAND_DEPTH`` for the command inputs)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )
