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

Lifecycle: what exists from construction on is what an unconfigured node needs to be managed
and watched: its parameters and their callback (parameters are set before configure, which
builds with them), the ``/diagnostics`` publisher and its timer (an operator sees why a node
publishes nothing, and ``lifecycle`` says which state it is in). ``configure`` builds the engine
and everything the node runs with: the output publishers, the input subscriptions, the services,
the reliability timer and the worker thread; ``cleanup`` and ``shutdown`` stop the worker and
destroy exactly these again, so configure -> cleanup -> configure leaves no thread or handle
behind. ``activate`` enables publishing; while inactive, images are ignored (counted) and
commands are still taken.

Threading: the image callback only stores the newest message (latest frame wins, an
unprocessed frame it replaces is counted as dropped) and refuses an oversized one at once; the
``command`` / ``command_stamped`` callbacks only queue the text (newest wins, a command replaced
before it was applied is counted as superseded); one worker thread applies the newest queued
command, decodes, runs the engine and publishes, so the publish rate equals the processing rate;
the engine runs its reasoning asynchronously (``Engine(async_reasoning=True)``). Every executor
callback is short, so ``spin`` uses one single-threaded executor for images, commands, services,
parameter changes, transitions and diagnostics; engine access is serialised by one lock.

Parts, one job each: the lifecycle and what it creates here; the image slot and worker thread
(``frame_worker.py``; the engine decides on stream restarts and the worker reports them),
commands (``node_commands.py``), parameters (``node_params.py``), diagnostics
(``diagnostics.py``), outputs (``publishing.py``); ``spin.py`` runs the node.
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
from rclpy.service import Service
from rclpy.subscription import Subscription
from rclpy.timer import Timer
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
# Seconds cleanup/shutdown wait for the worker to finish its current step (a frame through the
# engine, or an engine rebuild that loads models) before they go on without it.
WORKER_JOIN_S = 10.0
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
    the engine (loads the models) and the node's topics, services and worker thread, ``activate``
    starts publishing, ``deactivate`` ignores images (counted), ``cleanup`` releases all that
    ``configure`` made. ``spin`` walks through configure and activate by itself unless
    ``autostart`` is off.

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
        self._counters = collections.Counter[str]()
        self._process_ms: collections.deque[float] = collections.deque(maxlen=300)
        self._last_stamp: float | None = None  # of the last frame taken (duplicate/out-of-order refusal)
        self._last_result: FrameResult | None = None
        self._last_arrival: float | None = None  # time.monotonic() of the newest image
        self._trim_at: float | None = None  # time.monotonic() when freed memory is to be released
        # Topic commands waiting for the worker (newest wins): (text, command id, stamp or None).
        self._queued_command: tuple[str, str, float | None] | None = None
        self._command_answered = True  # a frame was processed since the current command was set
        self._pending: params.ChangePlan | None = None
        self._backends = ""  # which backends run, once configured (diagnostics)

        # Made by configure and released by cleanup/shutdown (``_open`` / ``_close``).
        self._outputs: ResultPublisher | None = None
        self._depth_input: DepthInput | None = None
        self._image_sub: Subscription | None = None
        self._inputs: list[Subscription] = []  # depth, camera_info, command, command_stamped
        self._own_services: list[Service] = []  # set_command, reset (rclpy's Node owns `_services`)
        self._reliability_timer: Timer | None = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()  # tells the current worker to end
        self._reliability = qos.choose_image_reliability([], self.config.ros.image_reliability)

        # Alive in every state: parameters and diagnostics.
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(self.config.ros.diagnostics_period_s, self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    # ----------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Build the engine (loads the models), then what the node runs with (``_open``); when the
        engine cannot be built nothing is made and the node stays unconfigured."""
        self._apply_pending()  # a change left over from before cleanup: build with it
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
        self._open()
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
        self._close()
        self._command_text = self._command_id = ""
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_processing("finalized")
        self._close()
        self.get_logger().info("shut down: images and commands are ignored")
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """A transition raised: release everything, so the node is unconfigured and can be configured again."""
        # rclpy swallows the exception itself; say at least that it happened.
        self.get_logger().error(f"a transition from {state.label} raised; everything configure made is released")
        self._stop_processing("unconfigured")
        self._close()
        return super().on_error(state)

    def _stop_processing(self, lifecycle: str) -> None:
        """Leave the active state: the frame waiting in the slot is counted as ignored (so the
        frame counts still add up) and the last result no longer speaks for the node."""
        with self._slot_lock:
            self.lifecycle = lifecycle
            if self._slot is not None:
                self._slot = None
                self._counters["ignored_inactive"] += 1
            self._last_result = None

    # ----------------------------------------------------------------- resources
    def _open(self) -> None:
        """Create what a configured node runs with; ``_close`` releases each of them."""
        ros = self.config.ros
        self._outputs = ResultPublisher(self)
        self._depth_input = DepthInput(ros.depth_tolerance_s)
        self._reliability = qos.choose_image_reliability([], ros.image_reliability)
        self._image_sub = self._subscribe_images(self._reliability)
        # Best effort accepts reliable and best-effort drivers alike; a few deep, so a depth image
        # arriving just before or after its colour frame is still there when the worker pairs them.
        self._inputs = [
            self.create_subscription(Image, "depth", self._depth_input.on_depth, qos.sensor_qos()),
            self.create_subscription(CameraInfo, "camera_info", self._depth_input.on_camera_info, qos.sensor_qos()),
            self.create_subscription(String, "command", self._on_command, qos.command_qos()),
            self.create_subscription(ReferringCommand, "command_stamped", self._on_command_stamped, qos.command_qos()),
        ]
        self._own_services = [self.create_service(SetCommand, "set_command", self._on_set_command),
                          self.create_service(Trigger, "reset", self._on_reset)]
        self._reliability_timer = self.create_timer(RELIABILITY_CHECK_S, self._check_reliability)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, args=(self._stop,), name="parse_vos_worker", daemon=True)
        self._worker.start()

    def _close(self) -> None:
        """Release what ``_open`` created and the engine (idempotent). The worker goes first, so
        nothing publishes or reads an input while they are destroyed."""
        worker, self._worker = self._worker, None
        if worker is not None:
            self._stop.set()
            self._slot_event.set()
            if threading.current_thread() is not worker:
                worker.join(timeout=WORKER_JOIN_S)
            if worker.is_alive():
                self.get_logger().warning(f"the worker is still busy after {WORKER_JOIN_S:g} s; "
                                          "it ends after its current step")
        if self._reliability_timer is not None:
            self.destroy_timer(self._reliability_timer)
            self._reliability_timer = None
        subscriptions = [self._image_sub] if self._image_sub is not None else []
        for subscription in subscriptions + self._inputs:
            self.destroy_subscription(subscription)
        for service in self._own_services:
            self.destroy_service(service)
        self._image_sub, self._inputs, self._own_services = None, [], []
        if self._outputs is not None:
            self._outputs.destroy()
            self._outputs = None
        self._depth_input = None
        self._release_engine()

    def _release_engine(self) -> None:
        with self._engine_lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()
        self._last_stamp = None
        with self._slot_lock:
            self._queued_command = None

    # ----------------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        """Stop the worker, release the engine and what configure made (idempotent; ``spin``
        calls it before ``destroy_node`` however the node was stopped)."""
        self._close()
