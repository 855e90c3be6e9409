"""The shared start of the driver scripts that the multi-process ROS tests run as child processes.

A driver stands in for a camera and an operator: it publishes images to the node under test, calls
its services, collects what the node publishes (targets, diagnostics) and prints one JSON line for
the test to check. ``ros_support.run_python`` runs a driver script after ``ensure_ros`` with tests/
on ``sys.path``, so a script starts with ``from ros_driver import Driver, image``. pytest's own
process never imports this module: the interfaces become importable only after ``ensure_ros``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from parse_vos_ros.msg import TargetSegmentation
from sensor_msgs.msg import Image

from parse_vos_ros.ros.qos import image_qos, output_qos

# The frame counters of the node's diagnostics; processed + dropped + rejected == received once idle.
FRAME_COUNTERS = ("frames_received", "frames_processed", "frames_dropped", "frames_rejected")


def image(sec: float, h: int = 48, w: int = 64, enc: str = "rgb8", step: int | None = None,
          data: bytes | None = None, fill: int = 0, frame_id: str = "") -> Image:
    """An Image message stamped ``sec`` seconds.

    Args:
        sec: header stamp in seconds (split into sec and nanosec).
        h, w: height and width in pixels as the header states them.
        enc: encoding as the header states it.
        step: row length in bytes; default 3 * w (right for rgb8).
        data: the payload; default an h x w x 3 uint8 array filled with ``fill``. The fault tests
            pass headers and payloads that disagree on purpose.
        frame_id: header frame id.
    """
    m = Image()
    m.header.stamp.sec, m.header.stamp.nanosec = int(sec), round((sec % 1) * 1e9)
    m.header.frame_id = frame_id
    m.height, m.width, m.encoding = h, w, enc
    m.step = 3 * w if step is None else step
    m.data = np.full((h, w, 3), fill, np.uint8).tobytes() if data is None else data
    return m


def frame_deltas(before: dict[str, str], after: dict[str, str]) -> dict[str, int]:
    """How much each of ``FRAME_COUNTERS`` grew between two diagnostics value dicts."""
    return {k: int(after[k]) - int(before[k]) for k in FRAME_COUNTERS}


class Driver:
    """A driver node: publishes images, collects targets and diagnostics.

    Args:
        name: the ROS node name.
        ns: namespace of the node under test ("" or "/lc" style); its ``target`` and ``image``
            topics are taken under it, ``/diagnostics`` is absolute.
        reliability: of the image publisher, "reliable" or "best_effort".
        targets_depth: queue depth of the target subscription (deep enough for a burst), or
            None for a pure camera that never reads targets.
        step: default ``spin_once`` timeout of ``spin_for`` in seconds (how finely it polls).
    """

    def __init__(self, name: str, *, ns: str = "", reliability: str = "reliable", targets_depth: int | None = 100,
                 step: float = 0.005) -> None:
        rclpy.init()
        self.node = rclpy.create_node(name)
        self.step = step
        self.targets: list[Any] = []  # TargetSegmentation messages in arrival order
        self.diags: list[Any] = []  # DiagnosticArray messages in arrival order
        if targets_depth is not None:
            self.node.create_subscription(TargetSegmentation, f"{ns}/target", self.targets.append,
                                          output_qos(targets_depth))
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, 10)
        self.pub = self.node.create_publisher(Image, f"{ns}/image", image_qos(reliability))

    def spin_for(self, seconds: float, step: float | None = None) -> None:
        """Run callbacks for ``seconds``, each wait at most ``step`` seconds (default ``self.step``)."""
        end = time.time() + seconds
        while time.time() < end:
            rclpy.spin_once(self.node, timeout_sec=self.step if step is None else step)

    def call(self, client: Any, request: Any, timeout_s: float = 10.0) -> Any:
        """Call a service and return its response (None when it did not answer within ``timeout_s``)."""
        future = client.call_async(request)
        rclpy.spin_until_future_complete(self.node, future, timeout_sec=timeout_s)
        return future.result()

    def wait_ready(self, *clients: Any, diagnostics: bool = True, subscribed: bool = True,
                   timeout_s: float | None = None) -> None:
        """Spin until (with ``subscribed``) the node subscribes to the images, every client's
        service is up and (with ``diagnostics``) a diagnostics message arrived. An unconfigured
        node has no image subscription and no services of its own yet: wait for it with
        ``subscribed=False`` and its lifecycle services.

        Raises:
            SystemExit: after ``timeout_s`` seconds (None: wait until the test's process timeout).
        """
        deadline = None if timeout_s is None else time.time() + timeout_s
        while not ((self.pub.get_subscription_count() or not subscribed) and all(c.service_is_ready() for c in clients)
                   and (self.diags or not diagnostics)):
            if deadline is not None and time.time() > deadline:
                raise SystemExit(f"the node was not ready within {timeout_s} s")
            self.spin_for(0.05)

    def graph_of(self, name: str, ns: str, timeout_s: float = 10.0) -> dict[str, list[str]]:
        """What the ROS graph lists for node ``name`` in namespace ``ns``: its ``subscriptions`` and
        ``publishers`` (topic names) and ``services``, each sorted. One discovery message carries
        all of a node's entities, so the lists are never half old; it may come after the node's
        services answer, so this spins until the graph knows the node.

        Raises:
            SystemExit: the graph did not list the node within ``timeout_s`` seconds.
        """
        deadline = time.time() + timeout_s
        while (name, ns) not in self.node.get_node_names_and_namespaces():
            if time.time() > deadline:
                raise SystemExit(f"the graph did not list {ns}/{name} within {timeout_s} s")
            self.spin_for(0.05)
        return {
            "subscriptions": sorted(t for t, _ in self.node.get_subscriber_names_and_types_by_node(name, ns)),
            "publishers": sorted(t for t, _ in self.node.get_publisher_names_and_types_by_node(name, ns)),
            "services": sorted(s for s, _ in self.node.get_service_names_and_types_by_node(name, ns)),
        }

    def publish_paced(self, messages: Iterable[Image], rate_hz: float) -> float:
        """Publish message i at ``i / rate_hz`` seconds after the start, handling callbacks without
        waiting in between (a camera that keeps its rate whatever the node does).

        Returns:
            The achieved rate in messages per second.
        """
        count, start = 0, time.time()
        for i, msg in enumerate(messages):
            while time.time() < start + i / rate_hz:
                rclpy.spin_once(self.node, timeout_sec=0)
            self.pub.publish(msg)
            count += 1
        return count / (time.time() - start)

    def diag(self) -> tuple[dict[str, str], int, str]:
        """The newest diagnostics: (key -> value, level 0 ok / 1 warn / 2 error, message)."""
        status = self.diags[-1].status[0]
        values = {kv.key: kv.value for kv in status.values}
        level = int.from_bytes(status.level, "little") if isinstance(status.level, bytes) else int(status.level)
        return values, level, status.message

    def target_stamps(self) -> list[float]:
        """Header stamps of the received targets in seconds, in arrival order."""
        return [t.header.stamp.sec + t.header.stamp.nanosec * 1e-9 for t in self.targets]
