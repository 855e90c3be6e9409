"""The interfaces built by colcon cross a real DDS link between two separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ros_support import domain_id

from parse_vos_ros.ros_env import DDS_PROFILE, ros_environment, workspace_install_dir

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

    def publish_until_received(pub, msg):
        # Transient local: a subscriber matched later still gets msg; spin so it can be fetched.
        pub.publish(msg)
        deadline = time.time() + 20
        while time.time() < deadline and pub.get_subscription_count() == 0:
            rclpy.spin_once(node, timeout_sec=0.1)
        end = time.time() + 3
        while time.time() < end:
            rclpy.spin_once(node, timeout_sec=0.1)

    def first_message(msg_type, topic):
        got = []
        node.create_subscription(msg_type, topic, got.append, QOS)
        deadline = time.time() + 25
        while time.time() < deadline and not got:
            rclpy.spin_once(node, timeout_sec=0.1)
        return got[0]
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
    publish_until_received(pub, msg)
    """
)

SUBSCRIBER = PREAMBLE + textwrap.dedent(
    """
    m = first_message(TargetSegmentation, "/pvr_test/target")
    print(m.header.frame_id, m.command_id, m.state, list(m.track_ids), round(m.score, 2),
          m.box.width, m.mask.encoding, list(m.mask.data))
    """
)


def test_target_segmentation_between_two_processes() -> None:
    if workspace_install_dir() is None:
        pytest.skip("ros2_ws is not built (run `make setup`)")
    env = ros_environment()
    env["ROS_DOMAIN_ID"] = str(domain_id(87))
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


IMAGE_PUBLISHER = PREAMBLE + textwrap.dedent(
    """
    import hashlib, os
    from sensor_msgs.msg import Image
    print("profile", os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE", ""), flush=True)
    pub = node.create_publisher(Image, "/pvr_test/image", QOS)
    msg = Image()
    msg.height, msg.width, msg.encoding, msg.step = 480, 640, "rgb8", 1920
    data = bytes(range(256)) * 3600
    msg.data = data
    print("sha", hashlib.sha256(data).hexdigest(), flush=True)
    publish_until_received(pub, msg)
    """
)

IMAGE_SUBSCRIBER = PREAMBLE + textwrap.dedent(
    """
    import hashlib
    from sensor_msgs.msg import Image
    image = first_message(Image, "/pvr_test/image")
    print("sha", hashlib.sha256(bytes(image.data)).hexdigest(), flush=True)
    """
)


def _large_shm_segments() -> set[str]:
    """Fast DDS shared-memory segments of at least the bundled profile's 16 MB."""
    shm = Path("/dev/shm")
    return {p.name for p in shm.glob("fastdds_*") if p.stat().st_size >= 16 * 2**20} if shm.is_dir() else set()


def test_camera_images_cross_with_the_bundled_large_shared_memory_profile() -> None:
    """Child processes get the bundled Fast DDS profile; it parses (Fast DDS reports XML errors on
    stderr and falls back to its defaults), creates 16 MB shared-memory segments, and a 640x480
    rgb8 image arrives intact."""
    if workspace_install_dir() is None:
        pytest.skip("ros2_ws is not built (run `make setup`)")
    env = {k: v for k, v in os.environ.items() if k not in ("FASTDDS_DEFAULT_PROFILES_FILE",
                                                             "FASTRTPS_DEFAULT_PROFILES_FILE")}
    env = ros_environment(env)
    env["ROS_DOMAIN_ID"] = str(domain_id(88))
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(DDS_PROFILE)
    before = _large_shm_segments()
    sub = subprocess.Popen([sys.executable, "-c", IMAGE_SUBSCRIBER, "sub"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    pub = subprocess.Popen([sys.executable, "-c", IMAGE_PUBLISHER, "pub"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    created = _large_shm_segments() - before
    out, err = sub.communicate(timeout=60)
    pub_out, pub_err = pub.communicate(timeout=60)
    assert sub.returncode == 0 and pub.returncode == 0, err + pub_err
    assert "XMLPARSER" not in err + pub_err, err + pub_err
    assert f"profile {DDS_PROFILE}" in pub_out
    sent = [line for line in pub_out.splitlines() if line.startswith("sha ")]
    assert sent and out.strip() == sent[0]
    if Path("/dev/shm").is_dir():
        assert created, "no 16 MB shared-memory segment appeared: the profile was not applied"
