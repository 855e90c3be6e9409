"""Depth and camera_info through the node in its own process: 3D outputs and every bad-input class.

The fault tests run the node with the FakeEngine (its target is the red pixels, its 3D point the
real ``context.depth.target_point``), one driver process sending each class of bad depth input
with its own stamps; the end-to-end test replays a ``synth --depth`` bag (depth + camera_info
topics) into the node with the real engine and checks ``target_point`` against the true centres.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from ros_support import fake_node_session, ros_env, ros_test_env, run_python

from parse_vos_ros.ros.launch import NodeProcess

pytestmark = pytest.mark.ros
DOMAIN = 81
STATE_TRACKING = 2
# The driver's scene: a red 10x10 square (rows 10-19, cols 5-14) on a 64x48 image; the square is a
# plate 2 m away, the background 5 m; fx = fy = 200 px, principal point at the image centre.
PLATE_M = 2.0
TRUE_POINT = [(9.5 - 31.5) * PLATE_M / 200.0, (14.5 - 23.5) * PLATE_M / 200.0, PLATE_M]

DRIVER = r"""
import json
import numpy as np
import rclpy
from geometry_msgs.msg import PointStamped
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image
from parse_vos_ros.ros.qos import output_qos
from ros_driver import Driver, image

drv = Driver("depth_driver", step=0.01)
depth_pub = drv.node.create_publisher(Image, "/depth", output_qos(10))
info_pub = drv.node.create_publisher(CameraInfo, "/camera_info", output_qos(10))
points = []
drv.node.create_subscription(PointStamped, "/target_point", points.append, output_qos(100))
from parse_vos_ros.srv import SetCommand
set_cmd = drv.node.create_client(SetCommand, "/set_command")
params = drv.node.create_client(SetParameters, "/parse_vos/set_parameters")
drv.wait_ready(set_cmd, params)
assert drv.call(set_cmd, SetCommand.Request(id="d", text="the red square")).success
while not (depth_pub.get_subscription_count() and info_pub.get_subscription_count()):
    drv.spin_for(0.05)
before = drv.diag()[0]

GOOD_K = [200.0, 0.0, 31.5, 0.0, 200.0, 23.5, 0.0, 0.0, 1.0]

def plate(z_plate=2.0, z_back=5.0, h=48, w=64):
    d = np.full((h, w), z_back, np.float32)
    d[10:20, 5:15] = z_plate
    return d

def stamp_of(msg, sec):
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(sec), round((sec % 1) * 1e9)

def depth_msg(sec, d, enc="32FC1", frame_id="depth_optical"):
    m = Image()
    stamp_of(m, sec)
    m.header.frame_id = frame_id
    m.height, m.width, m.encoding = d.shape[0], d.shape[1], enc
    if enc == "16UC1":
        raw = np.nan_to_num(d * 1000.0).astype("<u2")
    else:
        raw = d.astype("<f4")
    m.step = raw.itemsize * d.shape[1]
    m.data = raw.tobytes()
    return m

def info_msg(sec, k=GOOD_K, w=64, h=48):
    m = CameraInfo()
    stamp_of(m, sec)
    m.header.frame_id = "info_optical"
    m.width, m.height, m.k = w, h, k
    return m

def colour(sec):
    im = np.zeros((48, 64, 3), np.uint8)
    im[10:20, 5:15, 0] = 255
    drv.pub.publish(image(sec, data=im.tobytes(), frame_id="cam"))

def send(sec, d=None, info=True, depth_sec=None, enc="32FC1", k=GOOD_K, info_size=(64, 48), info_sec=None):
    if info:
        info_pub.publish(info_msg(sec if info_sec is None else info_sec, k, *info_size))
    if d is not None:
        depth_pub.publish(depth_msg(sec if depth_sec is None else depth_sec, d, enc))
    drv.spin_for(0.05)
    colour(sec)
    drv.spin_for(0.3)

holes = plate()
holes[10:20:2, 5:15] = np.nan                     # NaN rows on the target
holes[11:20:4, 5:15] = 0.0                        # and zeros
holes[30:40, 30:60] = np.nan                      # and a hole elsewhere
on_target_invalid = plate()
on_target_invalid[10:20, 5:15] = np.nan           # all-invalid depth on the target
CASES = {
    "camera_info_missing": (9.0, dict(d=plate(), info=False)),  # first: no camera_info has arrived yet
    "good_32fc1": (10.0, dict(d=plate())),
    "good_16uc1": (10.5, dict(d=plate(), enc="16UC1")),
    "nan_zeros_holes": (11.0, dict(d=holes)),
    "invalid_on_target": (12.0, dict(d=on_target_invalid)),
    "all_zero": (13.0, dict(d=np.zeros((48, 64), np.float32))),
    "size_mismatch": (14.0, dict(d=plate(h=96, w=128))),
    "wrong_encoding": (15.0, dict(d=plate(), enc="rgb8")),
    "zero_focal": (16.0, dict(d=plate(), k=[0.0] * 9)),
    "camera_info_wrong_size": (17.0, dict(d=plate(), info_size=(640, 480))),
    "never_pair": (18.0, dict(d=plate(), depth_sec=18.5)),
    "camera_info_never_pair": (19.0, dict(d=plate(), info_sec=19.5)),
}
for name, (sec, kw) in CASES.items():
    for i in range(3):
        send(sec + i * 0.1, **kw)
# A tolerance raised at runtime pairs depth (and its camera_info) stamped 0.3 s after the colour frame.
result = drv.call(params, SetParameters.Request(
    parameters=[Parameter("ros.depth_tolerance_s", value=0.5).to_parameter_msg()])).results[0]
assert result.successful, result.reason
drv.spin_for(0.3)
for i in range(3):
    sec = 20.0 + i * 0.1
    send(sec, d=plate(), depth_sec=sec + 0.3, info_sec=sec + 0.3)
drv.spin_for(1.5)
out = {
    "targets": {f"{t.header.stamp.sec + t.header.stamp.nanosec * 1e-9:.2f}": [t.state, t.has_position,
               [[p.x, p.y, p.z] for p in t.positions], t.position_frame_id, list(t.position_track_ids)]
               for t in drv.targets},
    "points": {f"{p.header.stamp.sec + p.header.stamp.nanosec * 1e-9:.2f}": [p.point.x, p.point.y, p.point.z,
               p.header.frame_id] for p in points},
    "before": before,
    "after": drv.diag()[0],
}
print(json.dumps(out))
"""

# case -> (first stamp, fault kind it must raise, whether a target_point comes out)
CASES = {
    "camera_info_missing": (9.0, "camera_info_missing", False),
    "good_32fc1": (10.0, None, True),
    "good_16uc1": (10.5, None, True),
    "nan_zeros_holes": (11.0, None, True),
    "invalid_on_target": (12.0, "depth_invalid_on_target", False),
    "all_zero": (13.0, "depth_empty", False),
    "size_mismatch": (14.0, "depth_size_mismatch", False),
    "wrong_encoding": (15.0, "depth_encoding", False),
    "zero_focal": (16.0, "camera_info_invalid", False),
    "camera_info_wrong_size": (17.0, "camera_info_invalid", False),
    "never_pair": (18.0, "depth_unpaired", False),
    "camera_info_never_pair": (19.0, "camera_info_unpaired", False),
    "tolerance_raised_at_runtime": (20.0, None, True),
}


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return ros_test_env(DOMAIN)


@pytest.fixture(scope="module")
def fake_node(env: dict[str, str]) -> Iterator[NodeProcess]:
    yield from fake_node_session(env)


@pytest.fixture(scope="module")
def run(fake_node: NodeProcess, env: dict[str, str]) -> dict:
    result = run_python(DRIVER, env, 180)
    assert result.returncode == 0, result.stderr + fake_node.text()[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    out["log"] = fake_node.text()
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_depth_case_keeps_2d_flowing_and_is_reported(run: dict, case: str) -> None:
    first, fault, with_point = CASES[case]
    stamps = [f"{first + i * 0.1:.2f}" for i in range(3)]
    targets = run["targets"]
    # The 2D outputs flow for every frame, whatever is wrong with the depth.
    assert all(s in targets and targets[s][0] == STATE_TRACKING for s in stamps), (case, sorted(targets))
    if with_point:
        for s in stamps:
            _, has_position, positions, frame_id, track_ids = targets[s]
            assert has_position and track_ids == [1] and frame_id == "depth_optical"
            np.testing.assert_allclose(positions[0], TRUE_POINT, atol=0.012)
            x, y, z, point_frame = run["points"][s]
            np.testing.assert_allclose([x, y, z], TRUE_POINT, atol=0.012)
            assert point_frame == "depth_optical"
    else:
        assert not any(targets[s][1] for s in stamps) and not any(s in run["points"] for s in stamps)
    if fault is not None:
        before, after = run["before"], run["after"]
        assert int(after.get(f"fault_{fault}", 0)) - int(before.get(f"fault_{fault}", 0)) >= 1, (fault, after)
        assert f"[{fault}]" in run["log"], run["log"][-3000:]
    assert "Traceback" not in run["log"]


def test_depth_frames_are_counted(run: dict) -> None:
    before, after = run["before"], run["after"]
    with_depth = int(after["frames_with_depth"]) - int(before.get("frames_with_depth", 0))
    # the two good cases, the holes, the invalid-on-target and the raised-tolerance frames
    assert with_depth == 3 * 5
    assert int(after["frames_processed"]) - int(before["frames_processed"]) == 3 * len(CASES)


def test_synth_depth_bag_through_the_real_node_gives_true_target_points(tmp_path: Path) -> None:
    from parse_vos_ros.context.depth import Intrinsics
    from parse_vos_ros.ros import bag
    from parse_vos_ros.synth import generate
    from parse_vos_ros.synth_depth import render_depth

    env = ros_env(DOMAIN + 1)
    scene = generate(11, 0, 24, (320, 240))  # "direction" variant: two look-alikes, one moving left
    expression = scene.spec.expressions[0]
    depth_mm, intrinsics, centres = render_depth(scene)
    ks = [Intrinsics(fx, fy, cx, cy, 320, 240) for fx, fy, cx, cy in intrinsics]
    fps = 10.0
    gt = [np.isin(ids, expression.obj_ids) for ids in scene.ids]
    bag.make_bag(tmp_path / "in", list(scene.images), fps=fps, gt_masks=gt, depth=list(zip(depth_mm, ks, strict=True)),
                 commands=[bag.TimedCommand(1000.0, expression.text, "c")])
    contents = bag.read_bag(tmp_path / "in")
    assert len(contents.depth) == 24  # bag make carries depth and camera_info
    code = f"""
import json, rclpy
from parse_vos_ros.ros.bag_live import run_through_node
from parse_vos_ros.ros import bag
rclpy.init()
run = run_through_node({str(tmp_path / 'in')!r}, lockstep_s=20.0, record_path={str(tmp_path / 'out')!r},
                       record_topics=("/target", "/target_point"), log_path={str(tmp_path / 'node.log')!r})
rclpy.try_shutdown()
print(json.dumps({{"outputs": len(run.masks)}}))
"""
    result = run_python(code, env, 300)
    assert result.returncode == 0, result.stderr + (tmp_path / "node.log").read_text()[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["outputs"] == 24
    from rosbags.rosbag2 import Reader

    store = bag.typestore()
    points: dict[int, list[np.ndarray]] = {}
    frames = []
    with Reader(tmp_path / "out") as reader:
        for conn, _, raw in reader.messages([c for c in reader.connections if c.topic == "/target_point"]):
            msg = store.deserialize_cdr(raw, conn.msgtype)
            key = round((msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 - 1000.0) * fps)
            points.setdefault(key, []).append(np.array([msg.point.x, msg.point.y, msg.point.z]))
            frames.append(msg.header.frame_id)
    assert set(frames) == {bag.OPTICAL_FRAME}
    truth = centres[expression.obj_ids[0]]
    errors = [min(np.linalg.norm(p - truth[t]) for p in pts) / np.linalg.norm(truth[t])
              for t, pts in points.items() if np.isfinite(truth[t]).all()]
    # The target is selected once its motion shows (a few frames in); from then on it has a point.
    assert len(errors) >= 12, sorted(points)
    assert float(np.median(errors)) < 0.03, errors
    assert "Traceback" not in (tmp_path / "node.log").read_text()
