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

Parts, one job each: the lifecycle and the engine's life here; the image slot and worker thread
(``frame_worker.py``, the one place that decides on stream restarts), commands
(``node_commands.py``), parameters (``node_params.py``), diagnostics (``diagnostics.py``),
outputs (``publishing.py``); ``spin.py`` runs the node.
"""

from __future__ import annotations

import collections
import itertools
import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from parse_vos_ros.config import Config
from parse_vos_ros.context.depth import DepthFrame
from parse_vos_ros.msg import ReferringCommand
from parse_vos_ros.ros import params, qos
from parse_vos_ros.ros.depth_input import DepthInput
from parse_vos_ros.ros.diagnostics import NodeDiagnostics
from parse_vos_ros.ros.faults import FaultLog
from parse_vos_ros.ros.frame_worker import FrameWorker
from parse_vos_ros.ros.node_commands import CommandHandling
from parse_vos_ros.ros.node_params import NodeParameters
from parse_vos_ros.ros.publishing import ResultPublisher
from parse_vos_ros.srv import SetCommand
from parse_vos_ros.types import FrameResult, ParsedCommand

RELIABILITY_CHECK_S = 1.0
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


class ParseVosNode(FrameWorker, CommandHandling, NodeParameters, NodeDiagnostics, LifecycleNode):
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
        self._last_arrival: float | None = None  # time.monotonic() of the newest image
        self._trim_at: float | None = None  # time.monotonic() when freed memory is to be released
        # Topic commands waiting for the worker (newest wins): (text, command id, stamp or None).
        self._queued_command: tuple[str, str, float | None] | None = None
        self._command_answered = True  # a frame was processed since the current command was set
        self._pending: params.ChangePlan | None = None
        self._backends = ""  # which backends run, once configured (diagnostics)

        self._outputs = ResultPublisher(self)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        self._reliability = qos.choose_image_reliability([], self.config.ros.image_reliability)
        self._image_sub = self._subscribe_images(self._reliability)
        self._depth_input = DepthInput(self.config.ros.depth_tolerance_s)
        # Best effort accepts reliable and best-effort drivers alike; a few deep, so a depth image
        # arriving just before or after its colour frame is still there when the worker pairs them.
        self.create_subscription(Image, "depth", self._depth_input.on_depth, qos.sensor_qos())
        self.create_subscription(CameraInfo, "camera_info", self._depth_input.on_camera_info, qos.sensor_qos())
        self.create_subscription(String, "command", self._on_command, qos.command_qos())
        self.create_subscription(ReferringCommand, "command_stamped", self._on_command_stamped, qos.command_qos())
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
            f"target={self._outputs.target.topic_name}, DDS profile: {dds_profile}"
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
