"""The interfaces built by colcon cross a real DDS link between two separate processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from parse_vos_ros.ros_env import ros_environment, workspace_install_dir

pytestmark = pytest.mark.ros

PREAMBLE = textwrap.dedent(
    """
    import sys, time
    from parse_vos_ros.ros_env import ensure_ros
    ensure_ros(["--help"])
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy, DurabilityPolicy
    from parse_vos_ros.msg import TargetSegmentation
    QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
    rclpy.init()
    node = rclpy.create_node(sys.argv[1])
    """
)

PUBLISHER = PREAMBLE + textwrap.dedent(
    """
    pub = node.create_publisher(TargetSegmentation, "/pvr_test/target", QOS)
    msg = TargetSegmentation()
    msg.header.frame_id = "camera"
    msg.command_id = "cmd-7"
    msg.state = TargetSegmentation.STATE_TRACKING
    msg.track_ids = [3, 5]
    msg.score = 0.75
    msg.box.x_offset, msg.box.y_offset, msg.box.width, msg.box.height = 10, 20, 30, 40
    msg.mask.height, msg.mask.width, msg.mask.encoding, msg.mask.step = 2, 3, "mono8", 3
    msg.mask.data = bytes([0, 255, 0, 255, 255, 0])
    pub.publish(msg)
    deadline = time.time() + 20
    while time.time() < deadline and pub.get_subscription_count() == 0:
        rclpy.spin_once(node, timeout_sec=0.1)
    end = time.time() + 3
    while time.time() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    """
)

SUBSCRIBER = PREAMBLE + textwrap.dedent(
    """
    got = []
    node.create_subscription(TargetSegmentation, "/pvr_test/target", got.append, QOS)
    deadline = time.time() + 25
    while time.time() < deadline and not got:
        rclpy.spin_once(node, timeout_sec=0.1)
    m = got[0]
    print(m.header.frame_id, m.command_id, m.state, list(m.track_ids), round(m.score, 2),
          m.box.width, m.mask.encoding, list(m.mask.data))
    """
)


def test_target_segmentation_between_two_processes() -> None:
    if workspace_install_dir() is None:
        pytest.skip("ros2_ws is not built (run `make setup`)")
    env = ros_environment()
    env["ROS_DOMAIN_ID"] = "87"
    sub = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, "sub"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    pub = subprocess.Popen([sys.executable, "-c", PUBLISHER, "pub"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    out, err = sub.communicate(timeout=60)
    pub.communicate(timeout=60)
    assert sub.returncode == 0, err
    assert pub.returncode == 0
    assert out.split() == ["camera", "cmd-7", "2", "[3,", "5]", "0.75", "30", "mono8", "[0,", "255,", "0,",
                           "255,", "255,", "0]"]
