"""Helpers for the multi-process ROS tests: a test-double engine and child-process runners.

``FakeEngine`` follows the Engine contract with a trivial, checkable rule (the target is the
set of pixels whose red channel is above 200) so node plumbing can be tested exactly; the
same tests also run the node with the real engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from parse_vos_ros.context.depth import DepthFrame, target_point
from parse_vos_ros.engine.intake import stream_restart
from parse_vos_ros.parsing.base import CommandParseError
from parse_vos_ros.ros.launch import NodeProcess
from parse_vos_ros.ros_env import ros_environment, workspace_install_dir
from parse_vos_ros.types import FrameResult, ParsedCommand, TargetState

REPO = Path(__file__).resolve().parents[1]


class FakeEngine:
    """Engine contract test double: red pixels are the target once a command is set. Like the
    engine, it restarts the stream on a new frame size or a stamp before the last one, by the
    engine's own rule (``intake.stream_restart``), and reports it on ``FrameResult.restart``."""

    def __init__(self, config: object) -> None:
        self.command: ParsedCommand | None = None
        self.command_id = ""
        self.frames = 0
        self.resets = 0
        self._last: tuple[tuple[int, ...], float] | None = None  # shape and stamp of the last frame

    def set_command(self, command: str | ParsedCommand, stamp: float | None = None,
                    command_id: str = "") -> ParsedCommand:
        text = command if isinstance(command, str) else command.text
        if not text.strip() or len(text) > 2000:
            raise CommandParseError(f"unusable command ({len(text)} chars)")
        if text.startswith("crash"):
            raise RuntimeError("parser backend exploded")
        self.command = ParsedCommand(text=text, candidates=(text.split()[-1],))
        self.command_id = command_id
        return self.command

    def clear_command(self) -> None:
        self.command, self.command_id = None, ""

    def push_frame(self, image: np.ndarray, stamp: float, depth: DepthFrame | None = None) -> FrameResult:
        restart = stream_restart(*(self._last or (None, 0.0)), image.shape, stamp)
        if restart is not None:
            self.reset()
        self._last = image.shape, stamp
        if (image[0] == 13).all():  # a sentinel first row makes the engine fail on this frame
            raise RuntimeError("engine failure on a sentinel frame")
        if (image[0] == 7).all():  # another makes it slow (20 ms), like a real engine under load
            time.sleep(0.02)
        self.frames += 1
        mask = image[:, :, 0] > 200 if self.command is not None else np.zeros(image.shape[:2], bool)
        ys, xs = np.nonzero(mask)
        box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float) if xs.size else None
        state = TargetState.IDLE if self.command is None else (TargetState.TRACKING if xs.size else
                                                               TargetState.SEARCHING)
        # With depth, the target's 3D point by the real geometry (what the node publishes as target_point).
        point = target_point(depth, mask, 1) if depth is not None and xs.size else None
        return FrameResult(index=self.frames - 1, stamp=stamp, state=state, mask=mask, box=box,
                           track_ids=(1,) if xs.size else (), score=1.0 if xs.size else 0.0,
                           command_id=self.command_id, trace={"fake": True, "frames": self.frames},
                           points=(point,) if point is not None else (), restart=restart)

    def reset(self) -> None:
        self.resets += 1
        self.frames = 0
        self._last = None

    def stats(self) -> dict[str, float]:
        return {"frames": float(self.frames), "resets": float(self.resets)}

    def close(self) -> None:
        pass


def python_command(code: str, *args: str) -> list[str]:
    """Command line of a child Python that runs ``code`` with ROS importable and tests/ on ``sys.path``
    (for ``ros_driver`` and ``ros_support``); ``args`` become its ``sys.argv[1:]``."""
    preamble = (f"import sys\nsys.path.insert(0, {str(REPO / 'tests')!r})\n"
                "from parse_vos_ros.ros_env import ensure_ros\nensure_ros(['--help'])\n")
    return [sys.executable, "-c", preamble + textwrap.dedent(code), *args]


def fake_node_command(*ros_args: str, autostart: bool = True) -> list[str]:
    """A child process running the node with FakeEngine (default profile)."""
    script = f"""
        from parse_vos_ros.config import load_config
        from parse_vos_ros.ros.spin import spin
        from ros_support import FakeEngine
        sys.exit(spin(load_config("default"), sys.argv[1:], engine_factory=FakeEngine, autostart={autostart!r}))
        """
    return python_command(script, *ros_args)


def domain_id(domain: int) -> int:
    """``domain`` moved by ``$PARSE_VOS_TEST_DOMAIN_OFFSET`` (default 0), so two checkouts can run
    their ROS tests at the same time on one machine without hearing each other."""
    return domain + int(os.environ.get("PARSE_VOS_TEST_DOMAIN_OFFSET", "0"))


def ros_env(domain: int) -> dict[str, str]:
    """Environment of a child process on its own DDS domain, loopback only."""
    env = ros_environment()
    env["ROS_DOMAIN_ID"] = str(domain_id(domain))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PARSE_VOS_ROS_ENV_READY"] = "1"
    env["RCUTILS_LOGGING_BUFFERED_STREAM"] = "0"
    return env


def ros_test_env(domain: int) -> dict[str, str]:
    """``ros_env(domain)`` for a test module; skips its tests when ros2_ws is not built."""
    if workspace_install_dir() is None:
        pytest.skip("ros2_ws is not built (run `make setup`)")
    return ros_env(domain)


def fake_node_session(env: dict[str, str], *ros_args: str) -> Iterator[NodeProcess]:
    """Body of a module-scoped fixture (``yield from``): a started FakeEngine node shared by the
    module's tests, which must stop cleanly afterwards (exit code 0, no traceback in its log)."""
    node = NodeProcess(fake_node_command(*ros_args), env=env)
    node.start()
    yield node
    rc = node.stop()
    assert rc == 0, node.text()
    assert "Traceback" not in node.text(), node.text()


def run_python(code: str, env: dict[str, str], timeout_s: float = 90.0, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` (see ``python_command``) in a child Python; stdout/stderr captured."""
    return subprocess.run(python_command(code, *args), env=env, capture_output=True, text=True, timeout=timeout_s)


def last_json(stdout: str) -> Any:
    """The last line a driver printed, parsed as JSON (drivers print their result last)."""
    return json.loads(stdout.strip().splitlines()[-1])


def drive(code: str, env: dict[str, str], node: NodeProcess, timeout_s: float = 90.0) -> Any:
    """Run driver ``code`` beside ``node``, which stays up (a module's shared node); the driver
    must succeed (its stderr and the node's log tail say why not). Returns its result JSON."""
    result = run_python(code, env, timeout_s)
    assert result.returncode == 0, result.stderr + node.text()[-3000:]
    return last_json(result.stdout)


def drive_then_stop(code: str, env: dict[str, str], node: NodeProcess, timeout_s: float = 90.0,
                    *args: str) -> Any:
    """Run driver ``code`` (with command-line ``args``) beside the started ``node``, then stop the
    node: the driver must succeed and the node exit 0 with no traceback in its log. Returns the
    driver's result JSON."""
    try:
        result = run_python(code, env, timeout_s, *args)
    finally:
        rc = node.stop()
    log = node.text()
    assert result.returncode == 0, result.stderr + log[-3000:]
    assert rc == 0 and "Traceback" not in log, log[-3000:]
    return last_json(result.stdout)


def counter_delta(before: dict[str, str], after: dict[str, str]) -> Callable[[str], int]:
    """``delta(key)``: how much the diagnostics counter ``key`` grew from ``before`` to ``after``."""
    return lambda key: int(after.get(key, 0)) - int(before.get(key, 0))
