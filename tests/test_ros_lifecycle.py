"""The node's lifecycle owns its resources: configure -> cleanup -> configure, repeatedly, through
the real lifecycle services of a node in a separate process.

While unconfigured the node has its parameters and diagnostics only; configure makes the engine,
the subscriptions, publishers, services, timers and the worker thread, cleanup destroys them.
Checked from outside the node: its topics and services as the ROS graph lists them, its OS
threads (``/proc/<pid>/task``), its Python threads (diagnostics ``threads``), and that it answers
a frame again after every new configure, with a parameter set while it was unconfigured. With
the FakeEngine double and with the real default engine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from ros_support import drive_then_stop, fake_node_command, ros_env, ros_test_env

from parse_vos_ros.ros.launch import NodeProcess

pytestmark = pytest.mark.ros
DOMAIN = 101  # the other ROS test modules use 61-94
NAMESPACE = "/cy"
CYCLES = 3
STATE_TRACKING = 2
ROS_ARGS = ("-r", f"__ns:={NAMESPACE}", "-p", "ros.diagnostics_period_s:=0.2")

CYCLE_DRIVER = r"""
import json, os, sys, time
import numpy as np
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from parse_vos_ros.srv import SetCommand
from ros_driver import Driver, image

pid, cycles, ns = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
drv = Driver("cycle_driver", ns=ns, step=0.02)
change = drv.node.create_client(ChangeState, f"{ns}/parse_vos/change_state")
set_cmd = drv.node.create_client(SetCommand, f"{ns}/set_command")
params = drv.node.create_client(SetParameters, f"{ns}/parse_vos/set_parameters")

def set_param(name, value):
    request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
    return drv.call(params, request).results[0].successful

def transition(tid):
    result = drv.call(change, ChangeState.Request(transition=Transition(id=tid)), timeout_s=120)
    return result is not None and result.success

def graph():
    return drv.graph_of("parse_vos", ns)

def os_threads():
    # The node's OS threads by name (DDS, rclpy, the worker, onnxruntime and OpenCV pools ...).
    names = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/comm") as comm:
                names.append(comm.read().strip())
        except FileNotFoundError:  # the thread ended while listing
            pass
    return sorted(names)

def diagnostics(lifecycle):
    # The newest diagnostics published after the transition into `lifecycle`.
    seen = len(drv.diags)
    deadline = time.time() + 30
    while time.time() < deadline:
        drv.spin_for(0.05)
        if len(drv.diags) > seen and drv.diag()[0]["lifecycle"] == lifecycle:
            return drv.diag()[0]
    raise SystemExit(f"no diagnostics in state {lifecycle}")

def settle(read, expected, timeout_s=15.0):
    # Graph updates travel by discovery and freed threads end shortly after: poll until `read()`
    # gives `expected` (None: until two reads agree), then return the last value either way.
    deadline, last = time.time() + timeout_s, None
    while time.time() < deadline:
        value = read()
        if (expected is None and value == last) or (expected is not None and value == expected):
            return value
        last = value
        drv.spin_for(0.2)
    return last

def snapshot(lifecycle, like=None):
    values = diagnostics(lifecycle)
    return {"graph": settle(graph, like and like["graph"]),
            "os_threads": settle(os_threads, like and like["os_threads"]),
            "threads": int(values["threads"]), "lifecycle": values["lifecycle"]}

def answer(sec, command_id):
    # Publish one frame with a red dot until its target comes back (the new image subscription
    # may take a moment to match the driver's publisher).
    im = np.zeros((48, 64, 3), np.uint8)
    im[5:9, 5:9, 0] = 255
    deadline = time.time() + 60
    while time.time() < deadline:
        drv.pub.publish(image(sec, data=im.tobytes()))
        drv.spin_for(0.5)
        got = [t for t in drv.targets if t.header.stamp.sec == int(sec) and t.command_id == command_id]
        if got:
            return [got[0].command_id, int(got[0].state), got[0].header.frame_id]
        sec += 0.01
    return None

drv.wait_ready(change, params, subscribed=False)
out = {"unconfigured": snapshot("unconfigured"), "cycles": []}
for cycle in range(cycles):
    # A parameter set while unconfigured is applied at once; configure builds with it.
    step = {"param": set_param("ros.frame_id_override", f"frame{cycle}")}
    step["configure"] = transition(Transition.TRANSITION_CONFIGURE)
    step["configured"] = snapshot("inactive")
    drv.wait_ready(set_cmd, diagnostics=False, timeout_s=30)
    step["command"] = drv.call(set_cmd, SetCommand.Request(text="the red dot", id=f"c{cycle}")).success
    step["activate"] = transition(Transition.TRANSITION_ACTIVATE)
    step["answer"] = answer(100.0 * (cycle + 1), f"c{cycle}")
    step["deactivate"] = transition(Transition.TRANSITION_DEACTIVATE)
    step["cleanup"] = transition(Transition.TRANSITION_CLEANUP)
    step["cleaned"] = snapshot("unconfigured", like=out["unconfigured"])
    out["cycles"].append(step)
print(json.dumps(out))
"""


def run_cycles(node: NodeProcess, env: dict[str, str]) -> dict:
    """Start ``node`` unconfigured, drive it through ``CYCLES`` configure/cleanup cycles, stop it;
    the driver's result. The node must exit 0 with no traceback."""
    node.start_process()
    assert node.process is not None
    return drive_then_stop(CYCLE_DRIVER, env, node, 600, str(node.process.pid), str(CYCLES), NAMESPACE)


def check_cycles(out: dict, tracking: bool, lazy_pools: bool = False) -> None:
    """Every cycle made and released the same resources and the node answered in each.
    ``lazy_pools``: the engine's libraries start process-wide thread pools on first use (OpenCV,
    onnxruntime), which stay; then cleanup must leave the same OS threads in every cycle."""
    idle = out["unconfigured"]
    own = {f"{NAMESPACE}/{name}" for name in ("image", "depth", "camera_info", "command", "command_stamped")}
    assert not own & set(idle["graph"]["subscriptions"]), idle
    assert {f"{NAMESPACE}/set_command", f"{NAMESPACE}/reset"}.isdisjoint(idle["graph"]["services"]), idle
    outputs = {f"{NAMESPACE}/{name}" for name in ("target", "mask", "debug_image", "reasoning", "target_point")}
    assert not outputs & set(idle["graph"]["publishers"]) and "/diagnostics" in idle["graph"]["publishers"], idle
    assert f"{NAMESPACE}/parse_vos/change_state" in idle["graph"]["services"]  # managed from the start
    for cycle, step in enumerate(out["cycles"]):
        assert step["configure"] and step["command"] and step["activate"], (cycle, step)
        assert step["deactivate"] and step["cleanup"], (cycle, step)
        configured = step["configured"]
        assert own <= set(configured["graph"]["subscriptions"]), (cycle, configured)
        assert outputs <= set(configured["graph"]["publishers"]), (cycle, configured)
        assert {f"{NAMESPACE}/set_command", f"{NAMESPACE}/reset"} <= set(configured["graph"]["services"])
        assert configured["threads"] > idle["threads"]  # the worker (and the engine's threads)
        assert step["param"], (cycle, step)
        assert step["answer"] is not None and step["answer"][0] == f"c{cycle}", (cycle, step)
        assert step["answer"][2] == f"frame{cycle}", (cycle, step)  # the parameter set while unconfigured
        if tracking:
            assert step["answer"][1] == STATE_TRACKING, (cycle, step)
        cleaned = step["cleaned"]
        # Back to exactly what an unconfigured node has: no handle, no thread left behind.
        assert cleaned["graph"] == idle["graph"], (cycle, cleaned, idle)
        assert cleaned["threads"] == idle["threads"], (cycle, cleaned, idle)
        same_as = out["cycles"][0]["cleaned"] if lazy_pools else idle
        assert cleaned["os_threads"] == same_as["os_threads"], (cycle, cleaned, same_as)
    # The second configure builds the same as the first.
    first, last = out["cycles"][0]["configured"], out["cycles"][-1]["configured"]
    assert last["graph"] == first["graph"] and last["threads"] == first["threads"], (first, last)


def test_fake_engine_node_configure_cleanup_cycles_release_everything() -> None:
    env = ros_test_env(DOMAIN)
    out = run_cycles(NodeProcess(fake_node_command(*ROS_ARGS, autostart=False), env=env), env)
    print(json.dumps(out))  # the counts, for the record
    check_cycles(out, tracking=True)


def test_real_engine_node_configure_cleanup_cycles_release_everything(tmp_path: Path) -> None:
    ros_test_env(DOMAIN + 1)  # skips without ros2_ws
    env = ros_env(DOMAIN + 1)
    command = [sys.executable, "-m", "parse_vos_ros.cli", "node", "--no-autostart", "--ros-args", *ROS_ARGS]
    out = run_cycles(NodeProcess(command, env=env, log_path=tmp_path / "node.log"), env)
    print(json.dumps(out))
    # The real engine answers every frame; whether a 4 px dot on black is tracked is not the point.
    check_cycles(out, tracking=False, lazy_pools=True)
