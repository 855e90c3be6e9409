"""rosbag2 files meeting a live ROS graph: replay, record, and scoring through the node.

Replay publishes the stored CDR bytes as they are (no deserialisation), at the recorded
timing scaled by ``rate``; record subscribes with ``raw=True`` and stores the bytes it gets.
Both need rclpy and this package's interfaces (call ``ros_env.ensure_ros()`` first).
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.rosbag2 import Reader

from parse_vos_ros import image_codec
from parse_vos_ros.ros import bag
from parse_vos_ros.ros.launch import NodeProcess, node_command

STOP_LINE = "stop"  # ``parse-vos bag record`` ends (after draining) when it reads this line on stdin
DRAIN_QUIET_S = 0.5  # a stopped recording ends once its topics have been quiet this long ...
DRAIN_MAX_S = 3.0  # ... or after this long


def message_class(msgtype: str) -> type:
    """``"sensor_msgs/msg/Image"`` -> the rclpy message class."""
    package, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def _qos(reliable: bool, depth: int) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def wait_for_subscribers(publishers: Sequence[Any], timeout_s: float) -> bool:
    """Wait until every publisher has at least one subscription (DDS discovery); True if so."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(p.get_subscription_count() > 0 for p in publishers):
            return True
        time.sleep(0.05)
    return False


@dataclass
class ReplayStats:
    """What a replay did: messages per topic and the wall time each image stamp was sent."""

    published: dict[str, int] = field(default_factory=dict)
    sent_at: dict[int, float] = field(default_factory=dict)  # image header stamp_ns -> time.monotonic()


def replay(node: Node, path: str | os.PathLike[str], *, rate: float = 1.0, remap: Mapping[str, str] | None = None,
           topics: Sequence[str] | None = None, wait_for: Sequence[str] = (), wait_s: float = 20.0,
           best_effort: bool = False, stop: threading.Event | None = None,
           stats: ReplayStats | None = None, after_image: Callable[[int], None] | None = None) -> ReplayStats:
    """Publish a bag's messages into the graph at the recorded timing.

    Args:
        node: an rclpy node to publish from (spun elsewhere or not at all: publishing needs no spin).
        rate: playback speed factor (2.0 = twice as fast).
        remap: bag topic -> published topic.
        topics: bag topics to replay (None = all).
        wait_for: bag topics whose publishers must be matched by a subscriber before starting.
        best_effort: publish best effort (to test a best-effort camera) instead of reliable.
        stop: set to end early.
        stats: filled while replaying (to read ``sent_at`` from another thread); a new one when None.
        after_image: called with the header stamp (ns) of each image right after it is published
            (e.g. to wait for the answer: lock-step replay); the timing of later messages shifts by
            the time it takes.
    """
    if rate <= 0:
        raise bag.BagError(f"rate must be > 0, got {rate}")
    remap = dict(remap or {})
    stats = ReplayStats() if stats is None else stats
    with Reader(Path(path)) as reader:
        conns = [c for c in reader.connections if topics is None or c.topic in topics]
        missing = set(wait_for) - {c.topic for c in conns}
        if missing:
            raise bag.BagError(f"{path} has no topic {sorted(missing)} to wait for")
        publishers: dict[int, Any] = {}
        for conn in conns:
            depth = 10 if conn.msgtype == bag.COMMAND_TYPE else 5
            publishers[conn.id] = node.create_publisher(message_class(conn.msgtype), remap.get(conn.topic, conn.topic),
                                                        _qos(not best_effort, depth))
        waited = [publishers[c.id] for c in conns if c.topic in wait_for]
        if waited and not wait_for_subscribers(waited, wait_s):
            raise TimeoutError(f"no subscriber on {list(wait_for)} after {wait_s} s")
        image_conns = {c.id for c in conns
                       if c.msgtype == bag.IMAGE_TYPE and c.topic not in (bag.GT_TOPIC, bag.DEPTH_TOPIC)}
        start_wall: float | None = None
        start_bag = 0
        for conn, timestamp, raw in reader.messages(connections=conns):
            if stop is not None and stop.is_set():
                break
            if start_wall is None:
                start_wall, start_bag = time.monotonic(), timestamp
            due = start_wall + (timestamp - start_bag) * 1e-9 / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            data = bytes(raw)
            if conn.msgtype == bag.COMMAND_TYPE:
                data = _with_text_length(data)
            if conn.id in image_conns:
                stats.sent_at[_header_stamp_ns(data)] = time.monotonic()
            publishers[conn.id].publish(data)
            stats.published[conn.topic] = stats.published.get(conn.topic, 0) + 1
            if after_image is not None and conn.id in image_conns:
                waited_from = time.monotonic()
                after_image(_header_stamp_ns(data))
                start_wall += time.monotonic() - waited_from  # keep the recorded spacing after the wait
    return stats


def _with_text_length(cdr: bytes) -> bytes:
    """A CDR ReferringCommand as the current definition reads it: one recorded before
    ``text_length`` existed (header, id, text only) gets ``text_length = 0`` (not declared) appended.

    Layout after the 4-byte encapsulation header: int32 sec, uint32 nanosec, then three strings
    (frame_id, id, text), each a 4-aligned uint32 length (NUL included) and its bytes.
    """
    little = cdr[1] == 1  # encapsulation kind CDR_LE
    offset = 4 + 8
    for _ in range(3):
        offset += -(offset - 4) % 4
        length = int.from_bytes(cdr[offset:offset + 4], "little" if little else "big")
        offset += 4 + length
    if len(cdr) - offset >= 4:
        return cdr  # text_length is there (what follows the text is padding and the field)
    padding = -(offset - 4) % 4
    return cdr[:offset] + bytes(padding + 4)


def _header_stamp_ns(cdr: bytes) -> int:
    """The header stamp of a CDR-serialised message that starts with std_msgs/Header.

    After the 4-byte encapsulation header, a Header starts with int32 sec and uint32 nanosec;
    reading them directly avoids deserialising a whole image just for its stamp.
    """
    order = "little" if cdr[1] & 1 else "big"
    sec = int.from_bytes(cdr[4:8], order, signed=True)
    nanosec = int.from_bytes(cdr[8:12], order)
    return sec * 1_000_000_000 + nanosec


def discover_types(node: Node, topics: Sequence[str], timeout_s: float,
                   stop: threading.Event | None = None) -> dict[str, str]:
    """``{topic: msgtype}`` for topics seen in the graph within ``timeout_s`` or until ``stop``
    (missing ones left out)."""
    wanted = [node.resolve_topic_name(t) for t in topics]
    found: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(found) < len(wanted) and not (stop is not None and stop.is_set()):
        for name, types in node.get_topic_names_and_types():
            if name in wanted and types:
                found[name] = types[0]
        time.sleep(0.1)
    return found


def record(path: str | os.PathLike[str], topics: Sequence[str], *, storage: str = "sqlite3",
           duration_s: float = 0.0, max_messages: int = 0, discover_s: float = 10.0,
           stop: threading.Event | None = None, on_ready: Callable[[], None] | None = None,
           node_name: str = "parse_vos_bag_record") -> dict[str, int]:
    """Record ``topics`` into a new bag until ``duration_s``, ``max_messages``, ``stop`` or SIGINT.

    Once ``stop`` is set, messages already on their way are still recorded: the recording ends
    when the topics have been quiet for ``DRAIN_QUIET_S`` (at most ``DRAIN_MAX_S``); ``parse-vos
    bag record`` sets it on a "stop" line, SIGINT or SIGTERM. rclpy must be initialised. The bag
    is written in a hidden sibling folder and moved to ``path`` when recording ends, so an
    interrupted run never leaves a half-written bag there.

    Returns:
        Messages recorded per topic.
    """
    target = Path(path)
    if target.exists():
        raise bag.BagError(f"{target} already exists")
    stop = stop if stop is not None else threading.Event()
    node = rclpy.create_node(node_name)
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    counts: dict[str, int] = {}
    try:
        types = discover_types(node, topics, discover_s, stop)
        if not types:
            raise TimeoutError(f"none of {list(topics)} appeared in the graph within {discover_s} s")
        store = bag.typestore()
        writer = bag.write_bag(staging / target.name, storage)
        writer.open()
        subs: list[Any] = []
        try:
            for topic, msgtype in types.items():
                conn = writer.add_connection(topic, msgtype, typestore=store)
                offered = [i.qos_profile.reliability for i in node.get_publishers_info_by_topic(topic)]
                reliable = all(r == ReliabilityPolicy.RELIABLE for r in offered)

                def on_message(data: bytes, conn: Any = conn, topic: str = topic) -> None:
                    writer.write(conn, node.get_clock().now().nanoseconds, data)
                    counts[topic] = counts.get(topic, 0) + 1

                subs.append(node.create_subscription(message_class(msgtype), topic, on_message, _qos(reliable, 50),
                                                     raw=True))
            # Report ready only once matched, so what is published right after is not missed.
            matched_by = time.monotonic() + discover_s
            while (time.monotonic() < matched_by and not stop.is_set()
                   and not all(sub.get_publisher_count() for sub in subs)):
                rclpy.spin_once(node, timeout_sec=0.05)
            if on_ready is not None:
                on_ready()
            deadline = time.monotonic() + duration_s if duration_s > 0 else float("inf")
            while time.monotonic() < deadline and not stop.is_set():
                if max_messages and sum(counts.values()) >= max_messages:
                    break
                rclpy.spin_once(node, timeout_sec=0.05)
            if stop.is_set():
                _drain(node, counts)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass  # SIGINT ends a recording normally
        except RCLError:
            # rclpy's SIGTERM handler shuts the context down; caught inside spin_once that surfaces
            # as "context is not valid" rather than ExternalShutdownException: also a normal end.
            if rclpy.ok():
                raise
        finally:
            writer.close()
        os.replace(staging / target.name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        node.destroy_node()
    return counts


def _drain(node: Any, counts: dict[str, int]) -> None:
    """Spin until no message arrived for ``DRAIN_QUIET_S`` (at most ``DRAIN_MAX_S``)."""
    end = time.monotonic() + DRAIN_MAX_S
    quiet_from, seen = time.monotonic(), sum(counts.values())
    while time.monotonic() < end and time.monotonic() - quiet_from < DRAIN_QUIET_S:
        rclpy.spin_once(node, timeout_sec=0.05)
        if sum(counts.values()) != seen:
            quiet_from, seen = time.monotonic(), sum(counts.values())


def last_image_stamp(path: str | os.PathLike[str], topic: str = bag.IMAGE_TOPIC) -> int | None:
    """Header stamp (ns) of the last image in the bag, or None without images."""
    last = None
    with Reader(Path(path)) as reader:
        for _, _, raw in reader.messages(connections=[c for c in reader.connections if c.topic == topic]):
            last = _header_stamp_ns(bytes(raw))
    return last


@dataclass
class NodeRun:
    """Outputs of a bag replayed through a node process."""

    masks: dict[int, np.ndarray]  # image stamp_ns -> (H, W) bool
    states: dict[int, int]  # image stamp_ns -> TargetSegmentation.state
    latency_ms: dict[int, float]  # image stamp_ns -> publish-to-target-received milliseconds
    replay: ReplayStats
    node_log: str


def run_through_node(path: str | os.PathLike[str], *, profile: str = "default", overrides: Sequence[str] = (),
                     rate: float = 1.0, grace_s: float = 10.0, env: Mapping[str, str] | None = None,
                     log_path: str | os.PathLike[str] | None = None,
                     record_path: str | os.PathLike[str] | None = None,
                     record_topics: Sequence[str] = ("/target", "/mask", "/reasoning"),
                     lockstep_s: float = 0.0) -> NodeRun:
    """Start the node, replay the bag into it, collect ``target`` by image stamp, stop the node.

    With ``record_path``, a third process (``parse-vos bag record``) records ``record_topics``
    into a new bag for the whole run. With ``lockstep_s`` > 0, each image waits for its target (at
    most that many seconds) before the next is sent, so every frame is answered however slow the
    machine: accuracy through the real node, not a test of keeping up (the latency is still
    measured). rclpy must be initialised in this process.
    """
    from parse_vos_ros.msg import TargetSegmentation

    last_stamp = last_image_stamp(path)
    masks: dict[int, np.ndarray] = {}
    states: dict[int, int] = {}
    latency: dict[int, float] = {}
    replay_stats = ReplayStats()
    arrived = threading.Condition()  # guards the three dicts; notified on every target
    node = rclpy.create_node("parse_vos_bag_eval")

    def on_target(msg: TargetSegmentation) -> None:
        now = time.monotonic()
        key = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        m = msg.mask
        mask = image_codec.decode_mask(m.height, m.width, m.step, m.encoding, bytes(m.data))
        sent = replay_stats.sent_at.get(key)
        with arrived:
            masks[key] = mask
            states[key] = int(msg.state)
            if sent is not None:
                latency[key] = (now - sent) * 1e3
            arrived.notify_all()

    def wait_for_target(stamp_ns: int, timeout_s: float) -> None:
        with arrived:
            arrived.wait_for(lambda: stamp_ns in masks, timeout=timeout_s)

    node.create_subscription(TargetSegmentation, "/target", on_target, _qos(True, 100))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    process = NodeProcess(node_command(profile, overrides=overrides), env=env, log_path=log_path)
    recorder: subprocess.Popen[str] | None = None
    try:
        process.start()
        if record_path is not None:
            recorder = _start_recorder(record_path, record_topics, process.env)
        replay(node, path, rate=rate, wait_for=[bag.IMAGE_TOPIC, bag.COMMAND_TOPIC], stats=replay_stats,
               after_image=(lambda stamp_ns: wait_for_target(stamp_ns, lockstep_s)) if lockstep_s > 0 else None)
        if last_stamp is not None:
            wait_for_target(last_stamp, grace_s)
    finally:
        if recorder is not None:
            _, err = _stop_recorder(recorder)
            if recorder.returncode != 0:
                raise RuntimeError(f"the recorder failed: {err}")
        process.stop()
        executor.shutdown()
        # A spin thread still inside rcl when the interpreter exits can abort the process
        # ("terminate called without an active exception"): let it leave first.
        spinner.join(timeout=5.0)
        node.destroy_node()
    return NodeRun(masks, states, latency, replay_stats, process.text())


def _start_recorder(path: str | os.PathLike[str], topics: Sequence[str], env: Mapping[str, str]
                    ) -> subprocess.Popen[str]:
    """``parse-vos bag record`` as a child process, returned once it is subscribed."""
    recorder = subprocess.Popen([sys.executable, "-m", "parse_vos_ros.cli", "bag", "record", str(path), "--topics",
                                 *topics], env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    assert recorder.stdout is not None
    line = recorder.stdout.readline()
    if "recording" not in line:
        recorder.kill()
        _, err = recorder.communicate()
        raise RuntimeError(f"the recorder did not start: {line}{err}")
    return recorder


def _stop_recorder(recorder: subprocess.Popen[str]) -> tuple[str, str]:
    """End a ``_start_recorder`` child: "stop" on its stdin lets it record what is still on its
    way (``record`` drains) and finalise the bag; SIGINT if it does not end in time."""
    assert recorder.stdin is not None
    try:
        recorder.stdin.write(STOP_LINE + "\n")
        recorder.stdin.flush()
        return recorder.communicate(timeout=DRAIN_MAX_S + 30)
    except (BrokenPipeError, subprocess.TimeoutExpired):
        recorder.send_signal(signal.SIGINT)  # ends the recording and finalises the bag
        return recorder.communicate(timeout=60)
