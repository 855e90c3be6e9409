"""The plain equivalent of ``launch/parse_vos.launch.py`` for machines without ``ros2 launch``.

:func:`node_command` builds the same command line the launch file produces (profile, camera
topic remap, namespace, node name, extra parameters); :class:`NodeProcess` runs it as a child
process with the ROS environment of this repository and waits until the node says it is ready.
Tests, ``parse-vos bag eval --node`` and the latency benchmark all start the node this way.

This module imports no ROS module (it only starts a process).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parse_vos_ros.ros_env import ros_environment

READY_MARK = "ready: image="


def ros_arguments(*, camera_topic: str = "", namespace: str = "", name: str = "",
                  params: Mapping[str, Any] | None = None, params_file: str | os.PathLike[str] | None = None,
                  log_level: str = "") -> list[str]:
    """The arguments that follow ``--ros-args`` for the given launch settings."""
    args: list[str] = []
    if camera_topic:
        args += ["-r", f"image:={camera_topic}"]
    if namespace:
        args += ["-r", f"__ns:={namespace if namespace.startswith('/') else '/' + namespace}"]
    if name:
        args += ["-r", f"__node:={name}"]
    if params_file:
        args += ["--params-file", str(params_file)]
    for key, value in (params or {}).items():
        args += ["-p", f"{key}:={_param_text(value)}"]
    if log_level:
        args += ["--log-level", log_level]
    return args


def _param_text(value: Any) -> str:
    """A parameter value as rcl reads it on the command line (YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'" if value == "" or value.strip() != value else value
    return repr(value)


def node_command(profile: str | os.PathLike[str] = "default", *, overrides: Sequence[str] = (),
                 **ros_kwargs: Any) -> list[str]:
    """``python -m parse_vos_ros.cli node ...`` for the given profile and launch settings.

    Args:
        profile: profile name or YAML path.
        overrides: ``section.key=value`` config overrides (``--set``).
        ros_kwargs: see :func:`ros_arguments`.
    """
    cmd = [sys.executable, "-m", "parse_vos_ros.cli", "node", "--config", str(profile)]
    for item in overrides:
        cmd += ["--set", item]
    ros_args = ros_arguments(**ros_kwargs)
    if ros_args:
        cmd += ["--ros-args", *ros_args]
    return cmd


class NodeProcess:
    """The node as a child process; a context manager that stops it with SIGINT.

    Args:
        command: from :func:`node_command`.
        env: extra environment (``ROS_DOMAIN_ID`` ...) on top of :func:`ros_environment`.
        log_path: where the child's output goes (a temporary file is not kept otherwise).
    """

    def __init__(self, command: Sequence[str], env: Mapping[str, str] | None = None,
                 log_path: str | os.PathLike[str] | None = None) -> None:
        self.command = list(command)
        self.env = ros_environment()
        self.env.update(env or {})
        self.env.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")
        self.log_path = Path(log_path) if log_path else None
        self.output: list[str] = []
        self._ready = threading.Event()
        self.process: subprocess.Popen[str] | None = None

    def start_process(self) -> NodeProcess:
        """Start the process without waiting (for a node that waits for lifecycle transitions)."""
        self.process = subprocess.Popen(self.command, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, errors="replace")
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def start(self, timeout_s: float = 60.0) -> NodeProcess:
        """Start the node and wait until it logs that it is ready (configured and active).

        Raises:
            RuntimeError: the node exited or did not get ready in time (its output is included).
        """
        self.start_process()
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while not self._ready.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("node did not start:\n" + self.text())
        return self

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if READY_MARK in line:
                self._ready.set()

    def text(self) -> str:
        """Everything the node printed so far."""
        return "".join(self.output)

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGINT, then wait (SIGKILL after ``timeout_s``); returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        time.sleep(0.1)  # let the pump thread drain the pipe
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path.write_text(self.text(), encoding="utf-8")
        return int(self.process.returncode)

    def __enter__(self) -> NodeProcess:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
