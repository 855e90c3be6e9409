"""Running the node: ``spin`` builds it, walks it through configure and activate, and spins it
until SIGINT/SIGTERM or ROS shutdown."""

from __future__ import annotations

import sys

from rclpy.lifecycle import TransitionCallbackReturn

from parse_vos_ros.config import Config
from parse_vos_ros.ros.node import EngineFactory, ParseVosNode, default_engine_factory
from parse_vos_ros.ros.stop_signals import STOP_POLL_S, stop_on_signals


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
    from rclpy.signals import SignalHandlerOptions

    # Signals are taken between callbacks (stop_signals), not by rclpy's handlers mid-callback.
    rclpy.init(args=["parse_vos_node", "--ros-args", *ros_args], signal_handler_options=SignalHandlerOptions.NO)
    node: ParseVosNode | None = None
    name = node_name
    with stop_on_signals() as stop:
        try:
            node = ParseVosNode(config, engine_factory=engine_factory, node_name=node_name)
            name = node.get_name()  # with remaps applied; read while the context is up
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
            while not stop.is_set():
                executor.spin_once(timeout_sec=STOP_POLL_S)
        except ExternalShutdownException:
            pass  # something else shut the context down: also a stop
        finally:
            if node is not None:
                node.shutdown()
                node.destroy_node()
                print(f"[{name}] stopped", file=sys.stderr, flush=True)
            rclpy.try_shutdown()
    return 0
