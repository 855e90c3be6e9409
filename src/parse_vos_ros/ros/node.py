"""The PARSE-VOS ROS 2 node.

Topics are relative to the node namespace (remap ``image`` to the camera topic):

- in: ``image`` (sensor_msgs/Image, depth 1, reliability matched to the publishers),
  ``command`` (std_msgs/String transcript), ``command_stamped`` (parse_vos_ros/ReferringCommand),
  optional ``depth`` (sensor_msgs/Image 16UC1 mm / 32FC1 m, aligned) and ``camera_info``
  (sensor_msgs/CameraInfo), paired by stamp (:mod:`parse_vos_ros.ros.depth_input`)
- out: ``target_point`` (geometry_msgs/PointStamped per selected target, with depth),
  ``target`` (parse_vos_ros/TargetSegmentation), ``mask`` (mono8, header of the input
  image), ``debug_image`` (rgb8 overlay, computed only while someone subscribes), ``reasoning``
  (std_msgs/String JSON trace, on change), ``/diagnostics`` (diagnostic_msgs/DiagnosticArray)
- services: ``set_command`` (parse_vos_ros/SetCommand), ``reset`` (std_srvs/Trigger)
- parameters: every config key (``engine.window_s`` ...), see :mod:`parse_vos_ros.ros.params`.

Threading: the image callback only stores the newest message (latest frame wins, an
unprocessed frame it replaces is counted as dropped) and refuses an oversized one at once; the
``command`` / ``command_stamped`` callbacks only queue the text (newest wins, a command replaced
before it was applied is counted as superseded); one worker thread applies the newest queued
command, decodes, runs the engine and publishes, so the publish rate equals the processing rate;
the engine runs its reasoning asynchronously (``Engine(async_reasoning=True)``). Every executor
callback is short, so ``spin`` uses one single-threaded executor for images, commands, services,
parameter changes and diagnostics; engine access is serialised by one lock.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PointStamped
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header, String
from std_srvs.srv import Trigger

from parse_vos_ros import backends, image_codec
from parse_vos_ros.config import Config, ConfigError
from parse_vos_ros.context.depth import DepthFrame
from parse_vos_ros.msg import ReferringCommand, TargetSegmentation
from parse_vos_ros.parsing.base import CommandParseError
from parse_vos_ros.ros import memory, messages, params, qos
from parse_vos_ros.ros.depth_input import DepthInput
from parse_vos_ros.ros.faults import FaultLog
from parse_vos_ros.srv import SetCommand
from parse_vos_ros.types import MIN_IMAGE_SIDE, FrameResult, ParsedCommand, TargetState

RELIABILITY_CHECK_S = 1.0
LOG_PREVIEW_CHARS = 80
# Fault kinds that concern the engine rather than the input (diagnostics name them first).
ENGINE_FAULTS = ("engine_error", "engine_rebuild", "internal_error")
# Frames dated more than this ahead of the node's clock are refused (``stamp_in_future``): taking
# one as the stream's newest stamp would make every following, correctly dated frame look like a
# jump back in time, and reset tracking. Generous for clocks that are not synchronised by NTP.
MAX_STAMP_AHEAD_S = 10.0
# Seconds after an oversized message was refused before the worker hands freed heap back to the
# OS: by then the executor has dropped its last reference to the message.
TRIM_DELAY_S = 0.05
BYTES_PER_MB = 1024 * 1024
STAMP_REJECTIONS = ("duplicate_stamp", "stamp_out_of_order")
BACKEND_ATTRIBUTES = ("detector", "segmenter", "parser", "reasoner", "pose_verifier")


class EngineLike(Protocol):
    """What the node needs of ``parse_vos_ros.engine.Engine``."""

    def set_command(self, command: str | ParsedCommand, stamp: float | None = None,
                    command_id: str = "") -> ParsedCommand: ...
    def clear_command(self) -> None: ...
    def push_frame(self, image: np.ndarray, stamp: float, depth: DepthFrame | None = None) -> FrameResult: ...
    def reset(self) -> None: ...
    def stats(self) -> dict[str, float]: ...
    def close(self) -> None: ...


EngineFactory = Callable[[Config], EngineLike]


def default_engine_factory(config: Config) -> EngineLike:
    """The real streaming engine with asynchronous reasoning."""
    from parse_vos_ros.engine import Engine

    return Engine(config, async_reasoning=True)


def _preview(text: str) -> str:
    """A short, printable rendering of untrusted text for log lines."""
    short = text[:LOG_PREVIEW_CHARS]
    return repr(short) + (f"... ({len(text)} chars)" if len(text) > LOG_PREVIEW_CHARS else "")


class ParseVosNode(LifecycleNode):
    """Referring segmentation on a camera stream; see the module docstring for the interface.

    A lifecycle (managed) node: parameters are validated at construction; ``configure`` builds
    the engine (loads the models), ``activate`` starts processing and publishing, ``deactivate``
    ignores images (counted), ``cleanup`` releases the engine. ``spin`` walks through configure
    and activate by itself unless ``autostart`` is off.

    Args:
        config: the profile loaded by the caller; parameters given with ``--ros-args``
            (``-p`` or ``--params-file``) override its keys.
        engine_factory: builds the engine from a validated Config (default: the real Engine).
        node_name: ROS node name.
    """

    def __init__(self, config: Config, *, engine_factory: EngineFactory = default_engine_factory,
                 node_name: str = "parse_vos", **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        self._faults = FaultLog(self.get_logger().warning)
        self.config = self._declare_config(config)
        self._faults.period_s = self.config.ros.fault_log_period_s
        self._engine_factory = engine_factory
        self._engine_lock = threading.Lock()
        self._engine: EngineLike | None = None  # built on configure
        self.lifecycle = "unconfigured"

        self._command_text = ""
        self._command_id = ""
        self._command_counter = itertools.count(1)

        # Latest-frame slot shared by the image callback and the worker.
        self._slot_lock = threading.Lock()
        self._slot: Image | None = None
        self._slot_event = threading.Event()
        self._stop = threading.Event()
        self._counters = collections.Counter[str]()
        self._process_ms: collections.deque[float] = collections.deque(maxlen=300)
        self._last_size: tuple[int, int] | None = None
        self._last_stamp: float | None = None
        self._last_result: FrameResult | None = None
        self._last_trace = ""
        self._last_arrival: float | None = None  # time.monotonic() of the newest image
        self._trim_at: float | None = None  # time.monotonic() when freed memory is to be released
        # Topic commands waiting for the worker (newest wins): (text, command id, stamp or None).
        self._queued_command: tuple[str, str, float | None] | None = None
        self._command_answered = True  # a frame was processed since the current command was set
        self._pending: params.ChangePlan | None = None
        self._backends = ""  # which backends run, once configured (diagnostics)

        out_qos = qos.output_qos()
        self._target_pub = self.create_lifecycle_publisher(TargetSegmentation, "target", out_qos)
        self._mask_pub = self.create_lifecycle_publisher(Image, "mask", out_qos)
        self._debug_pub = self.create_lifecycle_publisher(Image, "debug_image", qos.output_qos(depth=1))
        self._reasoning_pub = self.create_lifecycle_publisher(String, "reasoning", qos.command_qos())
        self._point_pub = self.create_lifecycle_publisher(PointStamped, "target_point", out_qos)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        self._reliability = qos.choose_image_reliability([], self.config.ros.image_reliability)
        self._image_sub = self._subscribe_images(self._reliability)
        self._depth_input = DepthInput(self.config.ros.depth_tolerance_s)
        # Best effort accepts reliable and best-effort drivers alike; a few deep, so a depth image
        # arriving just before or after its colour frame is still there when the worker pairs them.
        self.create_subscription(Image, "depth", self._depth_input.on_depth, qos.sensor_qos())
        self.create_subscription(CameraInfo, "camera_info", self._depth_input.on_camera_info, qos.sensor_qos())
        self._command_qos = qos.command_qos()
        self.create_subscription(String, "command", self._on_command, self._command_qos)
        self.create_subscription(ReferringCommand, "command_stamped", self._on_command_stamped, self._command_qos)
        self.create_service(SetCommand, "set_command", self._on_set_command)
        self.create_service(Trigger, "reset", self._on_reset)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_timer(RELIABILITY_CHECK_S, self._check_reliability)
        self._diag_timer = self.create_timer(self.config.ros.diagnostics_period_s, self._publish_diagnostics)

        self._worker = threading.Thread(target=self._work, name="parse_vos_worker", daemon=True)
        self._worker.start()

    # ----------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Build the engine (loads the models); failure leaves the node unconfigured."""
        try:
            engine = self._engine_factory(self.config)
            # Commands arrive as text: build the (lazy) parser now, so a parser model that cannot
            # load fails the start instead of the first command.
            getattr(engine, "parser", None)
        except Exception as exc:  # a backend failing to load is reported, not raised into rclpy
            self.get_logger().error(f"configure failed, the engine could not be built: {type(exc).__name__}: {exc}")
            return TransitionCallbackReturn.FAILURE
        with self._engine_lock:
            self._engine = engine
        self._backends = self._backend_summary(engine)
        self.lifecycle = "inactive"
        self.get_logger().info(f"backends: {self._backends or 'as the engine chose'}")
        return super().on_configure(state)

    @staticmethod
    def _backend_summary(engine: EngineLike) -> str:
        """``detector=EmbeddedDetector, ...``: which backends actually run (a fallback shows here)."""
        names = []
        for attr in BACKEND_ATTRIBUTES:
            backend = getattr(engine, attr, None)
            if backend is not None:
                runtime = getattr(backend, "runtime", "-")
                suffix = " (LLM unavailable: rule fallback)" if runtime is None else ""
                names.append(f"{attr}={type(backend).__name__}{suffix}")
        return ", ".join(names)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # enables the lifecycle publishers
        self.lifecycle = "active"
        env = os.environ
        dds_profile = (env.get("FASTDDS_DEFAULT_PROFILES_FILE") or env.get("FASTRTPS_DEFAULT_PROFILES_FILE")
                       or "none (Fast DDS defaults, or another RMW)")
        self.get_logger().info(
            f"ready: image={self._image_sub.topic_name} ({self._reliability}), "
            f"target={self._target_pub.topic_name}, DDS profile: {dds_profile}"
        )
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_processing("inactive")
        self.get_logger().info("deactivated: images are ignored until activate")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_processing("unconfigured")
        self._release_engine()
        self._command_text = self._command_id = ""
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_processing("finalized")
        self._release_engine()
        self.get_logger().info("shut down: images and commands are ignored")
        return super().on_shutdown(state)

    def _stop_processing(self, lifecycle: str) -> None:
        """Leave the active state: the frame waiting in the slot is counted as ignored (so the
        frame counts still add up) and the last result no longer speaks for the node."""
        with self._slot_lock:
            self.lifecycle = lifecycle
            if self._slot is not None:
                self._slot = None
                self._counters["ignored_inactive"] += 1
            self._last_result = None

    def _release_engine(self) -> None:
        with self._engine_lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()
        self._last_size = self._last_stamp = None
        self._queued_command = None

    # ----------------------------------------------------------------- parameters
    def _declare_config(self, config: Config) -> Config:
        """Declare every config key as a parameter (defaults from ``config``) and read overrides."""
        values: dict[str, Any] = {}
        for key, default in params.config_keys(config):
            descriptor = ParameterDescriptor(description=f"config key {key}", dynamic_typing=True)
            param = self.declare_parameter(key, params.to_parameter_value(default), descriptor)
            values[key] = param.value
        return params.config_from_values(values, base=config)

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Validate a change as a whole new Config; the worker applies it between frames."""
        changes = {p.name: p.value for p in parameters if p.name != "use_sim_time"}
        if not changes:
            return SetParametersResult(successful=True)
        with self._slot_lock:
            # A change not applied yet is the base of the next one, so none is lost.
            pending = self._pending
            try:
                plan = params.classify_changes(pending.config if pending else self.config, changes)
            except ConfigError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            self._pending = pending.then(plan) if pending else plan
        self._slot_event.set()
        return SetParametersResult(successful=True)

    def _apply_pending(self) -> None:
        """Apply a validated parameter change (worker thread, between frames)."""
        with self._slot_lock:
            plan, self._pending = self._pending, None
        if plan is None:
            return
        self.config = plan.config
        if plan.resubscribe:
            self._resubscribe(qos.choose_image_reliability(self._offered_reliability(),
                                                           plan.config.ros.image_reliability))
        self._depth_input.tolerance_s = plan.config.ros.depth_tolerance_s
        if "ros.fault_log_period_s" in plan.live:
            self._faults.period_s = plan.config.ros.fault_log_period_s
        if "ros.diagnostics_period_s" in plan.live:
            self._diag_timer.cancel()
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(plan.config.ros.diagnostics_period_s, self._publish_diagnostics)
        if plan.rebuild_engine:
            self._rebuild_engine(plan.config)
        self.get_logger().info(
            f"parameters applied (in place: {sorted(plan.live) or '-'}, engine rebuilt: {plan.rebuild_engine})"
        )

    def _rebuild_engine(self, config: Config) -> None:
        """Replace the engine (tracks are lost) and re-issue the current command."""
        if self._engine is None:
            return  # unconfigured: configure will build it with the new config
        try:
            engine = self._engine_factory(config)
        except Exception as exc:  # a backend failing to load must not take the node down
            self._faults.report("engine_rebuild", f"new parameters kept, engine rebuild failed: {exc}")
            return
        with self._engine_lock:
            old, self._engine = self._engine, engine
            if old is None:  # cleaned up while the new engine was being built
                self._engine = None
                old = engine
            elif self._command_text:
                try:
                    engine.set_command(self._command_text, None, self._command_id)
                except CommandParseError as exc:
                    self._faults.report("command_rejected", f"command dropped after rebuild: {exc}")
                    self._command_text = self._command_id = ""
        old.close()
        self._backends = self._backend_summary(engine)
        self._last_size = None

    # ----------------------------------------------------------------- images
    def _subscribe_images(self, reliability: str) -> Any:
        return self.create_subscription(Image, "image", self._on_image, qos.image_qos(reliability))

    def _resubscribe(self, reliability: str) -> None:
        if reliability == self._reliability:
            return
        old = self._image_sub
        self._image_sub = self._subscribe_images(reliability)
        self.destroy_subscription(old)
        self.get_logger().info(f"image subscription is now {reliability} (publishers: {self._publisher_summary()})")
        self._reliability = reliability

    def _offered_reliability(self) -> list[Any]:
        infos = self.get_publishers_info_by_topic(self._image_sub.topic_name)
        return [info.qos_profile.reliability for info in infos]

    def _publisher_summary(self) -> str:
        return ", ".join(str(r.name).lower() for r in self._offered_reliability()) or "none"

    def _check_reliability(self) -> None:
        """Follow the camera: best effort only while some publisher is best effort."""
        wanted = qos.choose_image_reliability(self._offered_reliability(), self.config.ros.image_reliability)
        if wanted != self._reliability:
            self._resubscribe(wanted)

    def _on_image(self, msg: Image) -> None:
        """Never blocks: keep the newest message, count the one it replaces as dropped. An image
        over ``ros.max_image_pixels`` is refused here, so it never waits in the slot, and the
        worker hands the freed memory back to the OS shortly after."""
        limit = self.config.ros.max_image_pixels
        too_large = int(msg.width) * int(msg.height) > limit
        with self._slot_lock:
            self._counters["received"] += 1
            self._last_arrival = time.monotonic()
            if self.lifecycle != "active":
                self._counters["ignored_inactive"] += 1
                return
            if too_large:
                self._counters["rejected"] += 1
                self._trim_at = time.monotonic() + TRIM_DELAY_S
            else:
                if self._slot is not None:
                    self._counters["dropped"] += 1
                self._slot = msg
        if too_large:
            self._faults.report(image_codec.TOO_LARGE, f"image dropped: {msg.width}x{msg.height} has more than "
                                f"ros.max_image_pixels={limit} pixels")
        self._slot_event.set()

    def _release_memory_when_due(self) -> None:
        """After an oversized message was refused: give the freed heap back (worker thread)."""
        with self._slot_lock:
            due = self._trim_at is not None and time.monotonic() >= self._trim_at
            if due:
                self._trim_at = None
                self._counters["memory_trims"] += 1
        if due:
            memory.release_memory()

    def _work(self) -> None:
        while not self._stop.is_set():
            self._release_memory_when_due()
            if not self._slot_event.wait(timeout=0.1):
                continue
            with self._slot_lock:
                msg, self._slot = self._slot, None
                self._slot_event.clear()
            try:
                self._apply_pending()
                self._apply_queued_command()
                if msg is not None:
                    start = time.perf_counter()
                    self._process(msg)
                    self._process_ms.append((time.perf_counter() - start) * 1e3)
            except Exception as exc:  # e.g. publishing while SIGINT shuts the context down
                if self._stop.is_set() or not self.context.ok():
                    return
                self._faults.report("internal_error", f"worker: {type(exc).__name__}: {exc}")

    def _reject(self, kind: str, message: str) -> None:
        self._counters["rejected"] += 1
        self._faults.report(kind, message)

    def _process(self, msg: Image) -> None:
        """Validate the frame completely (decode, size, stamp), only then change any state: reset
        on a new size or a stream restart, run the engine and publish (worker thread)."""
        try:
            image = image_codec.decode_image(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian,
                                             msg.data, max_pixels=self.config.ros.max_image_pixels,
                                             min_side=MIN_IMAGE_SIDE)
        except image_codec.ImageDecodeError as exc:
            self._reject(exc.kind, f"image dropped: {exc}")
            return
        now = self.get_clock().now().nanoseconds * 1e-9
        stamp = messages.stamp_seconds(msg.header)
        if stamp <= 0.0:  # unstamped camera driver: fall back to arrival time
            stamp = now
        if now > 0.0 and stamp - now > MAX_STAMP_AHEAD_S:  # now is 0 until a simulated clock ticks
            self._reject("stamp_in_future", f"image dropped: stamp {stamp:.3f} is {stamp - now:.1f} s ahead of "
                         f"this node's clock (more than {MAX_STAMP_AHEAD_S:g} s; camera clock not synchronised?)")
            return
        size = (int(msg.width), int(msg.height))
        event = self._stream_event(size, stamp)
        if event is not None and event[0] in STAMP_REJECTIONS:
            self._reject(*event)
            return
        # Valid from here on: only now may the frame change the stream state.
        if event is not None:
            self._faults.report(*event)
            self._reset_engine()
        self._last_size, self._last_stamp = size, stamp
        depth = self._pair_depth(stamp, size)
        try:
            with self._engine_lock:
                if self._engine is None:
                    return  # cleaned up while this frame was in flight
                result = (self._engine.push_frame(image, stamp) if depth is None
                          else self._engine.push_frame(image, stamp, depth=depth))
        except Exception as exc:  # the node must stay up whatever a backend does on one frame
            self._reject("engine_error", f"frame {stamp:.3f} failed in the engine: {type(exc).__name__}: {exc}")
            return
        with self._slot_lock:
            self._counters["processed"] += 1
            self._command_answered = True
            if self.lifecycle == "active":
                self._last_result = result
        if depth is not None and not result.points and result.state in (TargetState.TRACKING, TargetState.AMBIGUOUS):
            self._faults.report("depth_invalid_on_target", f"frame {stamp:.3f}: no valid depth under the target's "
                                                           "mask (holes, NaN or zeros): no target_point")
        self._publish(result, msg.header, image)

    def _pair_depth(self, stamp: float, size: tuple[int, int]) -> DepthFrame | None:
        """The depth paired with this colour frame; a depth fault is counted and the frame stays 2D."""
        depth, fault = self._depth_input.pair(stamp, *size)
        if fault is not None:
            self._faults.report(fault.kind, fault.message)
        if depth is not None:
            with self._slot_lock:
                self._counters["with_depth"] += 1
        return depth

    def _stream_event(self, size: tuple[int, int], stamp: float) -> tuple[str, str] | None:
        """What a decoded frame of ``size`` (w, h) at ``stamp`` means for the stream, without
        changing anything: None (it continues the stream), a restart (``size_change``,
        ``stream_restart``) or a rejection (one of ``STAMP_REJECTIONS``), as (kind, message)."""
        if self._last_size is not None and size != self._last_size:
            return "size_change", f"frame size changed {self._last_size} -> {size}; tracks reset"
        last = self._last_stamp
        if last is None or stamp > last:
            return None
        if last - stamp <= self.config.ros.stream_restart_s:
            kind = "duplicate_stamp" if stamp == last else "stamp_out_of_order"
            return kind, f"image dropped: stamp {stamp:.6f} not after the previous {last:.6f}"
        return "stream_restart", f"stamp jumped back {last - stamp:.2f} s; tracks reset"

    def _reset_engine(self) -> None:
        with self._engine_lock:
            if self._engine is not None:
                self._engine.reset()
        self._last_stamp = None

    def _publish(self, result: FrameResult, in_header: Header, image: np.ndarray) -> None:
        header = Header()
        header.stamp = in_header.stamp
        header.frame_id = self.config.ros.frame_id_override or in_header.frame_id
        height, width = image.shape[:2]
        mask_msg = messages.mask_message(result, header, height, width)
        self._target_pub.publish(messages.target_message(result, header, mask_msg, self._command_text))
        self._mask_pub.publish(mask_msg)
        for point in messages.point_stamped_messages(result, header):
            self._point_pub.publish(point)
        if self._debug_pub.get_subscription_count() > 0:
            mask = messages.fit_mask(result.mask, height, width)
            self._debug_pub.publish(messages.overlay_message(image_codec.overlay(image, mask, result.box), header))
        # Publish the trace when the reasoning changed, not every frame.
        key = result.command_id + json.dumps(result.trace, default=str, sort_keys=True)
        if key != self._last_trace:
            self._last_trace = key
            self._reasoning_pub.publish(String(data=messages.trace_json(result)))

    # ----------------------------------------------------------------- commands
    def _set_command(self, text: str, command_id: str, stamp: float | None) -> tuple[bool, str, str]:
        """Apply a command; returns (success, message, command id). Empty text clears."""
        if self._engine is None:
            self._count_command("rejected")
            self._faults.report("command_ignored", f"command {_preview(text)} ignored: the node is {self.lifecycle}")
            return False, f"the node is {self.lifecycle}: configure it first", command_id
        if not text.strip():
            with self._engine_lock:
                if self._engine is not None:
                    self._engine.clear_command()
            self._command_text = self._command_id = ""
            self.get_logger().info("command cleared")
            return True, "command cleared", ""
        command_id = command_id or f"cmd-{next(self._command_counter)}"
        try:
            with self._engine_lock:
                if self._engine is None:
                    return False, f"the node is {self.lifecycle}: configure it first", command_id
                parsed = self._engine.set_command(text, stamp, command_id)
        except CommandParseError as exc:
            self._count_command("rejected")
            self._faults.report("command_rejected", f"command {_preview(text)} rejected: {exc}")
            return False, f"rejected: {exc}", command_id
        except Exception as exc:  # a parser backend fault must not take the node down
            self._count_command("rejected")
            self._faults.report("command_error", f"command {_preview(text)} failed: {type(exc).__name__}: {exc}")
            return False, f"failed: {type(exc).__name__}: {exc}", command_id
        with self._slot_lock:
            unanswered = self._command_id if self._command_id and not self._command_answered else ""
            self._command_answered = False
            self._counters["commands_applied"] += 1
        if unanswered:
            self._superseded(unanswered, f"replaced by {command_id} before any frame answered it", "unanswered")
        self._command_text, self._command_id = text, command_id
        self.get_logger().info(f"command {command_id}: {_preview(text)} -> {parsed.to_dict()}")
        return True, json.dumps(parsed.to_dict()), command_id

    def _count_command(self, outcome: str) -> None:
        with self._slot_lock:
            self._counters[f"commands_{outcome}"] += 1

    def _superseded(self, which: str, why: str, outcome: str = "superseded") -> None:
        """Count a command that never produced an answer, and say so (rate-limited). ``outcome``:
        ``superseded`` (replaced before it was applied) or ``unanswered`` (applied, then replaced
        before any frame answered it)."""
        self._count_command(outcome)
        self._faults.report("command_superseded", f"command {which} superseded: {why}")

    def _truncated(self, text: str, declared: int) -> str:
        """Why a command whose declared UTF-8 length does not match what arrived is refused
        ("" when it matches or nothing was declared)."""
        arrived = len(text.encode("utf-8", "surrogatepass"))
        if declared == 0 or arrived == declared:
            return ""
        return (f"text_length {declared} declared, {arrived} UTF-8 bytes arrived: the text was cut short "
                "(a NUL byte ends a ROS string) or altered; send it again without NUL")

    def _queue_command(self, text: str, command_id: str, stamp: float | None) -> None:
        """Topic commands: queue for the worker, newest wins; the executor never waits on the engine."""
        with self._slot_lock:
            self._counters["commands_received"] += 1
            replaced, self._queued_command = self._queued_command, (text, command_id, stamp)
        if replaced is not None:
            self._superseded(replaced[1] or _preview(replaced[0]), "a newer command arrived before it was applied")
        self._slot_event.set()

    def _apply_queued_command(self) -> None:
        """Apply the newest queued topic command (worker thread, between frames)."""
        with self._slot_lock:
            queued, self._queued_command = self._queued_command, None
        if queued is not None:
            self._set_command(*queued)

    def _on_command(self, msg: String) -> None:
        self._queue_command(msg.data, "", None)

    def _on_command_stamped(self, msg: ReferringCommand) -> None:
        why = self._truncated(msg.text, msg.text_length)
        if why:
            self._count_command("received")
            self._count_command("rejected")
            self._faults.report("command_truncated", f"command {msg.id or _preview(msg.text)} rejected: {why}")
            return
        stamp = messages.stamp_seconds(msg.header)
        self._queue_command(msg.text, msg.id, stamp if stamp > 0 else None)

    def _on_set_command(self, request: SetCommand.Request, response: SetCommand.Response) -> SetCommand.Response:
        self._count_command("received")
        why = self._truncated(request.text, request.text_length)
        if why:
            self._count_command("rejected")
            self._faults.report("command_truncated", f"command {request.id or _preview(request.text)} rejected: {why}")
            response.success, response.message, response.command_id = False, f"rejected: {why}", request.id
            return response
        with self._slot_lock:  # this command is newer than any queued topic command
            replaced, self._queued_command = self._queued_command, None
        if replaced is not None:
            self._superseded(replaced[1] or _preview(replaced[0]), "set_command was called before it was applied")
        response.success, response.message, response.command_id = self._set_command(request.text, request.id, None)
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._reset_engine()
        self._last_size = None
        response.success, response.message = True, "tracks and history cleared; command kept"
        self.get_logger().info("reset")
        return response

    # ----------------------------------------------------------------- diagnostics
    def diagnostics_values(self) -> dict[str, str]:
        """Every diagnostic key/value as strings (also used by tests)."""
        with self._slot_lock:
            counters = dict(self._counters)
        values: dict[str, str] = {
            f"frames_{k}": str(counters.get(k, 0))
            for k in ("received", "processed", "dropped", "rejected", "ignored_inactive", "with_depth")
        }
        for key in ("commands_received", "commands_applied", "commands_rejected", "commands_superseded",
                    "commands_unanswered", "memory_trims"):
            values[key] = str(counters.get(key, 0))
        values["command_queue_depth"] = str(self._command_qos.depth)
        values["rss_mb"] = f"{memory.rss_bytes() / BYTES_PER_MB:.1f}"
        values["lifecycle"] = self.lifecycle
        values["backends"] = self._backends
        values["fallbacks"] = "; ".join(f.describe() for f in backends.fallbacks()) or "none"
        for kind, count in sorted(self._faults.counts().items()):
            values[f"fault_{kind}"] = str(count)
        times = np.array(self._process_ms, dtype=np.float64)
        if times.size:
            for q in (50, 95, 99):
                values[f"process_ms_p{q}"] = f"{np.percentile(times, q):.2f}"
        if self._last_arrival is not None:
            values["last_image_age_s"] = f"{time.monotonic() - self._last_arrival:.2f}"
        values["image_reliability"] = self._reliability
        values["command_id"] = self._command_id
        result = self._last_result
        values["state"] = str(result.state.value) if result is not None else f"none (node {self.lifecycle})"
        with contextlib.suppress(Exception), self._engine_lock:  # stats are best effort
            for key, value in (self._engine.stats() if self._engine is not None else {}).items():
                values[f"engine_{key}"] = f"{value:g}" if isinstance(value, float) else str(value)
        return values

    def diagnostics_status(self, values: dict[str, str]) -> tuple[bytes, str]:
        """Level and message: a node that is not active (WARN: it publishes nothing), then recent
        engine faults, a stalled camera, recent input faults (``ros.fault_warn_s``); old faults
        only remain in the ``fault_*`` counts."""
        ros = self.config.ros
        if self.lifecycle != "active":
            return DiagnosticStatus.WARN, f"{self.lifecycle}: images are ignored, nothing is published"
        recent = self._faults.recent(ros.fault_warn_s)
        engine = [k for k in recent if k in ENGINE_FAULTS]
        if engine:
            return DiagnosticStatus.WARN, f"engine faults: {', '.join(engine)}"
        if float(values.get("last_image_age_s", 0.0)) > ros.stall_warn_s:
            return DiagnosticStatus.WARN, f"camera stalled: no image for {ros.stall_warn_s:g} s"
        if recent:
            return DiagnosticStatus.WARN, f"input faults: {', '.join(recent)} (see fault_* counts)"
        if values.get("fallbacks", "none") != "none":
            return DiagnosticStatus.WARN, "degraded: a model failed to load, its fallback runs (see fallbacks)"
        return DiagnosticStatus.OK, "ok"

    def _publish_diagnostics(self) -> None:
        values = self.diagnostics_values()
        status = DiagnosticStatus()
        status.name = f"{self.get_name()}: pipeline"
        status.hardware_id = self.get_fully_qualified_name()
        status.level, status.message = self.diagnostics_status(values)
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        self._diag_pub.publish(array)

    # ----------------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        """Stop the worker and the engine's threads (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._slot_event.set()
        if self._worker.is_alive() and threading.current_thread() is not self._worker:
            self._worker.join(timeout=10.0)
        self._release_engine()


class EngineStartError(RuntimeError):
    """The engine could not be built at start (autostart configure failed); the log says why."""


def spin(config: Config, ros_args: list[str], *, engine_factory: EngineFactory = default_engine_factory,
         node_name: str = "parse_vos", autostart: bool = True) -> int:
    """Run the node until SIGINT/SIGTERM or ROS shutdown; returns the exit code (0 on a clean stop).

    Args:
        config: the loaded profile (ROS parameters override it).
        ros_args: arguments after ``--ros-args`` (remaps, ``-p``, ``--params-file``, log level).
        autostart: configure and activate at once; otherwise wait for lifecycle transitions.

    Raises:
        ConfigError: a parameter is invalid.
        EngineStartError: with autostart, the engine could not be built.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    rclpy.init(args=["parse_vos_node", "--ros-args", *ros_args])
    node: ParseVosNode | None = None
    try:
        node = ParseVosNode(config, engine_factory=engine_factory, node_name=node_name)
        if autostart:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise EngineStartError("the engine could not be built (see the error above)")
            node.trigger_activate()
        else:
            node.get_logger().info("unconfigured: waiting for the configure and activate transitions")
        # One executor thread: every callback is short (the worker does the heavy work), and the
        # engine lock serialises commands with frames anyway. rclpy's MultiThreadedExecutor lost
        # most images here (41/300 at 30 Hz with a 1 s timer beside a busy worker thread; 300/300
        # with this one).
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            name = node.get_name()
            node.shutdown()
            node.destroy_node()
            # The ROS context may already be shut down (SIGINT), so not through the ROS logger.
            print(f"[{name}] stopped", file=sys.stderr, flush=True)
        rclpy.try_shutdown()
    return 0
