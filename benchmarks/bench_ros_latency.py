"""End-to-end ROS latency: image published -> target received, through a real node process.

A camera process (this one) publishes 640x480 rgb8 frames at 30 Hz (reliable, like most
drivers) of a synthetic scene with a moving red ball, sends one command, and records when
each frame's ``target`` comes back (matched by header stamp). The node runs as a separate
process with the chosen profile (default: the embedded CPU profile). Reports latency
p50/p95/p99 in ms, the drop rate (frames without a target), and the node's own diagnostics.

    .venv/bin/python benchmarks/bench_ros_latency.py --out out/bench_ros_latency.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

from parse_vos_ros.ros_env import add_interfaces_to_path, ros_environment


def _ensure_ros_env() -> None:
    """Re-execute this script once with the workspace libraries on LD_LIBRARY_PATH."""
    if os.environ.get("PARSE_VOS_ROS_ENV_READY"):
        add_interfaces_to_path()
        return
    env = ros_environment()
    env["PARSE_VOS_ROS_ENV_READY"] = "1"
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def scene(index: int, width: int, height: int, fps: float) -> np.ndarray:
    """``(H, W, 3) uint8`` textured background with a red ball moving right and a blue one moving left."""
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = (((xx // 16 + yy // 16) % 2) * 40 + 60)[:, :, None].astype(np.uint8)
    t = index / fps
    for cx, cy, color in (((0.1 + 0.1 * t) % 1.0, 0.4, (230, 30, 30)), ((0.9 - 0.1 * t) % 1.0, 0.7, (30, 30, 230))):
        mask = (xx - cx * width) ** 2 + (yy - cy * height) ** 2 < (0.06 * width) ** 2
        frame[mask] = color
    return frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--command", default="the red ball moving right")
    parser.add_argument("--domain", type=int, default=64, help="ROS_DOMAIN_ID for this run")
    parser.add_argument("--out", type=Path, required=True, help="JSON result file")
    args = parser.parse_args()
    os.environ["ROS_DOMAIN_ID"] = str(args.domain)
    _ensure_ros_env()

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from parse_vos_ros.msg import TargetSegmentation
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from parse_vos_ros.atomic import atomic_write_json
    from parse_vos_ros.ros.bag_live import wait_for_subscribers
    from parse_vos_ros.ros.launch import NodeProcess, node_command
    from parse_vos_ros.ros.qos import command_qos, image_qos, output_qos

    frames = [scene(i, args.width, args.height, args.fps).tobytes() for i in range(int(args.fps * 4))]
    node_proc = NodeProcess(node_command(args.profile), env={"ROS_DOMAIN_ID": str(args.domain)}).start()
    rclpy.init()
    node = rclpy.create_node("bench_camera")
    sent: dict[int, float] = {}
    received: dict[int, float] = {}
    states: dict[int, int] = {}
    diags: list[dict[str, str]] = []

    def on_target(msg: TargetSegmentation) -> None:
        key = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        received[key] = time.monotonic()
        states[key] = int(msg.state)

    node.create_subscription(TargetSegmentation, "/target", on_target, output_qos(100))
    node.create_subscription(DiagnosticArray, "/diagnostics",
                             lambda m: diags.append({kv.key: kv.value for kv in m.status[0].values}), 10)
    image_pub = node.create_publisher(Image, "/image", image_qos("reliable"))
    command_pub = node.create_publisher(String, "/command", command_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        if not wait_for_subscribers([image_pub, command_pub], 30.0):
            raise RuntimeError("the node did not subscribe within 30 s")
        command_pub.publish(String(data=args.command))
        count = int(args.seconds * args.fps)
        start = time.monotonic()
        for i in range(count):
            due = start + i / args.fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            msg = Image()
            stamp_ns = 1_000_000_000_000 + round(i * 1e9 / args.fps)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
            msg.header.frame_id = "camera"
            msg.height, msg.width, msg.encoding, msg.step = args.height, args.width, "rgb8", 3 * args.width
            msg.data = frames[i % len(frames)]
            sent[stamp_ns] = time.monotonic()
            image_pub.publish(msg)
        publish_s = time.monotonic() - start
        time.sleep(3.0)  # let the last results and a diagnostics message arrive
    finally:
        node_proc.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    latency = np.array([(received[k] - sent[k]) * 1e3 for k in sent if k in received])
    tracked = sum(1 for k in sent if states.get(k) == 2)
    result = {
        "profile": args.profile,
        "image": f"{args.width}x{args.height} rgb8",
        "fps_target": args.fps,
        "fps_published": len(sent) / publish_s,
        "frames_published": len(sent),
        "frames_with_target": int(latency.size),
        "drop_rate": 1.0 - latency.size / max(1, len(sent)),
        "output_rate_hz": latency.size / publish_s,
        "frames_tracking": tracked,
        **({f"latency_ms_p{q}": float(np.percentile(latency, q)) for q in (50, 95, 99)} if latency.size else {}),
        "latency_ms_mean": float(latency.mean()) if latency.size else None,
        "node_diagnostics": diags[-1] if diags else {},
        "cpu_count": os.cpu_count(),
    }
    atomic_write_json(args.out, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
