"""Depth geometry, stamp pairing, depth-aware reasoning and ``synth --depth`` + eval (no ROS needed)."""

from __future__ import annotations

import array
from types import SimpleNamespace

import numpy as np
import pytest

from parse_vos_ros.context.depth import (
    DepthError,
    DepthFrame,
    Intrinsics,
    decode_depth,
    encode_depth_mm,
    target_point,
)
from parse_vos_ros.context.distances import DistanceHistory
from parse_vos_ros.context.occlusion import occlusion_facts
from parse_vos_ros.eval import position3d
from parse_vos_ros.reasoning.rule_reasoner import RuleMotionReasoner
from parse_vos_ros.reasoning.serialize import serialize_scene
from parse_vos_ros.ros.depth_input import DepthInput, StampBuffer
from parse_vos_ros.types import ParsedCommand, SceneSummary, Trajectory

K = Intrinsics(200.0, 200.0, 31.5, 23.5, 64, 48)


def plate_scene(z_plate: float = 2.0, z_back: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """``(48, 64)`` depth in metres: a plate at ``z_plate`` on rows 10-19, cols 5-14, else ``z_back``; its mask."""
    depth = np.full((48, 64), z_back, np.float32)
    mask = np.zeros((48, 64), bool)
    mask[10:20, 5:15] = True
    depth[mask] = z_plate
    return depth, mask


def test_decode_16uc1_and_32fc1_mark_invalid_pixels() -> None:
    mm = np.array([[0, 1500], [20, 2000]], np.uint16)  # 0 = no return, 20 mm = below the range
    got = decode_depth("16UC1", 2, 2, 4, False, mm.tobytes())
    assert np.isnan(got[0, 0]) and got[0, 1] == pytest.approx(1.5) and np.isnan(got[1, 0]) and got[1, 1] == 2.0
    big = decode_depth("16UC1", 2, 2, 4, True, mm.byteswap().tobytes())
    np.testing.assert_array_equal(np.isnan(big), np.isnan(got))
    m = np.array([[np.nan, 1.25, np.inf, 0.0, -1.0, 3.0]], np.float32)
    got = decode_depth("32FC1", 1, 6, 24 + 8, False, m.tobytes() + b"\0" * 8)  # padded rows
    assert np.isnan(got[0, [0, 2, 3, 4]]).all() and got[0, 1] == 1.25 and got[0, 5] == 3.0
    np.testing.assert_array_equal(encode_depth_mm(np.array([[np.nan, 1.2345]])), [[0, 1234]])


def test_decode_reads_any_buffer_in_place_with_padded_unaligned_and_cut_rows() -> None:
    mm = np.array([[1000, 0, 2500], [4000, 3000, 65535]], np.uint16)
    padded = b"".join(r.tobytes() + b"\x07" for r in mm)  # step 7: odd, so rows are unaligned
    want = np.array([[1.0, np.nan, 2.5], [4.0, 3.0, 65.535]], np.float32)
    # rclpy gives array.array('B'), rosbags a uint8 array; the last row's padding may be missing
    for data in (array.array("B", padded), np.frombuffer(padded, np.uint8), padded[:-1]):
        got = decode_depth("16UC1", 2, 3, 7, False, data)
        assert got.dtype == np.float32 and got.flags.c_contiguous and got.flags.writeable
        np.testing.assert_array_equal(got, want)
    source = bytearray(np.array([[1.5, 2.5]], "<f4").tobytes())
    got = decode_depth("32FC1", 1, 2, 8, False, source)
    source[:] = bytes(8)  # the message buffer reused: the decoded depth is its own copy
    np.testing.assert_array_equal(got, [[1.5, 2.5]])


@pytest.mark.parametrize(("args", "kind"), [
    (("rgb8", 2, 2, 6, False, bytes(12)), "depth_encoding"),
    (("16UC1", 2, 2, 4, False, bytes(5)), "depth_malformed"),
    (("16UC1", 0, 2, 4, False, b""), "depth_malformed"),
    (("32FC1", 2, 2, 4, False, bytes(16)), "depth_malformed"),  # step shorter than a row
])
def test_decode_rejects_bad_messages_with_a_kind(args: tuple, kind: str) -> None:
    with pytest.raises(DepthError) as err:
        decode_depth(*args)
    assert err.value.kind == kind


@pytest.mark.parametrize("k", [[0, 0, 32, 0, 0, 24, 0, 0, 1], [200, 0, 32, 0, -5, 24, 0, 0, 1],
                               [200, 0, 500, 0, 200, 24, 0, 0, 1], [1, 2, 3], [np.nan] * 9])
def test_invalid_camera_matrices_are_rejected(k: list[float]) -> None:
    with pytest.raises(DepthError) as err:
        Intrinsics.from_k(k, 64, 48)
    assert err.value.kind == "camera_info_invalid"


def test_target_point_is_the_plate_centre_despite_holes_and_background_leak() -> None:
    depth, mask = plate_scene()
    depth[12:14, 6:9] = np.nan  # holes
    leak = mask.copy()
    leak[10:20, 15:17] = True  # the mask spills onto the far background at one edge
    point = target_point(DepthFrame(depth, K, "cam"), leak, 7)
    assert point is not None and point.track_id == 7 and point.frame_id == "cam"
    centre = np.array([(9.5 - K.cx) * 2.0 / K.fx, (14.5 - K.cy) * 2.0 / K.fy, 2.0])
    np.testing.assert_allclose(point.position, centre, atol=0.011)  # half a pixel at 2 m is 5 mm
    assert point.extent[2] == pytest.approx(0.0, abs=1e-6) and 0.07 < point.extent[0] < 0.1  # 10 px = 0.1 m
    assert 0.5 < point.valid_fraction < 1.0
    empty = np.full_like(depth, np.nan)
    assert target_point(DepthFrame(empty, K), mask) is None  # all-invalid depth on the target: no point


def test_resized_depth_scales_the_intrinsics_consistently() -> None:
    depth, mask = plate_scene()
    full = target_point(DepthFrame(depth, K), mask)
    half = DepthFrame(depth, K).resized(32, 24)
    small_mask = mask[::2, ::2]
    point = target_point(half, small_mask)
    assert full is not None and point is not None
    np.testing.assert_allclose(point.position, full.position, atol=0.02)


def test_occlusion_order_follows_depth_when_measured() -> None:
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15]], float)
    areas = np.array([100.0, 40.0])
    assert occlusion_facts([1, 2], boxes, areas)[0].front_id == 1  # area prior
    facts = occlusion_facts([1, 2], boxes, areas, distances=np.array([4.0, 2.0]))
    assert facts[0].front_id == 2 and facts[0].from_depth
    assert occlusion_facts([1, 2], boxes, areas, distances=np.array([np.nan, 2.0]))[0].front_id == 1


def test_distance_history_is_bounded_and_looked_up_by_stamp() -> None:
    history = DistanceHistory(window_s=1.0, max_samples=3)
    for i in range(5):
        history.record(i * 0.1, {1: 2.0 + i, 2: np.nan}, [1, 2])
    np.testing.assert_allclose(history.at(1, np.array([0.2, 0.3, 0.4, 0.0])), [4.0, 5.0, 6.0, np.nan])
    assert np.isnan(history.latest(2))
    history.record(0.5, {}, [2])
    assert np.isnan(history.latest(1))


def _trajectory(tid: int, distances: np.ndarray, x: float) -> Trajectory:
    t = np.linspace(0.0, 1.0, len(distances))
    box = np.array([x, 40.0, x + 20.0, 60.0])
    boxes = np.repeat(box[None], len(t), 0)
    return Trajectory(tid, "ball", t, boxes, boxes.copy(), np.full(len(t), 400.0), np.ones(len(t), bool),
                      1.0, distances)


def test_rule_reasoner_and_serialization_use_measured_distance() -> None:
    # Same boxes and areas: only the measured distances tell toward from away and near from far.
    toward = _trajectory(1, np.linspace(4.0, 2.0, 10), 10.0)
    away = _trajectory(2, np.linspace(2.5, 5.0, 10), 200.0)
    scene = SceneSummary([toward, away], "static", [], (320, 240), 5.0)
    reasoner = RuleMotionReasoner()
    ask = lambda motion, context=(): reasoner.select(  # noqa: E731
        ParsedCommand("x", ("ball",), context=context, motion=motion), scene).track_ids
    assert ask(("coming toward the camera",)) == (1,)
    assert ask(("moving away from the camera",)) == (2,)
    assert ask((), ("nearest",)) == (1,)  # 2.0 m now vs 5.0 m
    assert ask((), ("farthest",)) == (2,)
    text, _ = serialize_scene(scene)
    assert "depth measured" in text
    assert "dist 2.00m radial -2.00m/s (toward)" in text and "dist 5.00m radial +2.50m/s (away)" in text
    # The LLM reasoner gets the same text and is told what dist and radial mean.
    from parse_vos_ros.llm.prompts import reason_messages

    system, user = reason_messages(ParsedCommand("the nearest ball", ("ball",)), text, "exactly 1")
    assert "radial" in system["content"] and "dist 2.00m" in user["content"]


def test_stamp_buffer_pairs_nearest_whatever_the_arrival_order() -> None:
    buf: StampBuffer[str] = StampBuffer(3)
    for stamp in (1.0, 0.9, 1.2, 1.1):
        buf.add(stamp, f"m{stamp}")
    assert buf.nearest(1.04) == pytest.approx((0.06, "m1.1"))  # 1.0 arrived first and left when full
    assert buf.nearest(0.0)[1] == "m0.9"
    for stamp in (0.1, 0.2):  # a stream restart: earlier stamps replace the old ones
        buf.add(stamp, f"m{stamp}")
    assert buf.nearest(0.1) == (0.0, "m0.1") and buf.received == 6
    assert StampBuffer[str](2).nearest(1.0) is None


def _depth_msg(stamp: float, depth_m: np.ndarray, encoding: str = "32FC1",
               frame_id: str = "optical") -> SimpleNamespace:
    header = SimpleNamespace(stamp=SimpleNamespace(sec=int(stamp), nanosec=round(stamp % 1 * 1e9)), frame_id=frame_id)
    data = depth_m.astype(np.float32).tobytes()
    return SimpleNamespace(header=header, width=depth_m.shape[1], height=depth_m.shape[0], encoding=encoding,
                           step=4 * depth_m.shape[1], is_bigendian=0, data=data)


def _info_msg(stamp: float, k: list[float], width: int = 64, height: int = 48) -> SimpleNamespace:
    header = SimpleNamespace(stamp=SimpleNamespace(sec=int(stamp), nanosec=round(stamp % 1 * 1e9)), frame_id="info")
    return SimpleNamespace(header=header, width=width, height=height, k=k)


GOOD_K = [200.0, 0, 31.5, 0, 200.0, 23.5, 0, 0, 1]


def test_depth_input_pairs_and_names_every_fault() -> None:
    depth, _ = plate_scene()
    inp = DepthInput(tolerance_s=0.02)
    assert inp.pair(1.0, 64, 48) == (None, None)  # a 2D camera: nothing expected, nothing reported
    only_info = DepthInput(tolerance_s=0.02)
    only_info.on_camera_info(_info_msg(1.0, GOOD_K))
    assert only_info.pair(1.0, 64, 48)[1].kind == "depth_missing"
    inp.on_depth(_depth_msg(1.005, depth))
    assert inp.pair(1.0, 64, 48)[1].kind == "camera_info_missing"
    inp.on_camera_info(_info_msg(1.0, GOOD_K))
    frame, fault = inp.pair(1.0, 64, 48)
    assert fault is None and frame is not None and frame.frame_id == "optical" and frame.intrinsics.fx == 200.0
    assert inp.pair(1.5, 64, 48)[1].kind == "depth_unpaired"
    assert inp.pair(1.0, 128, 96)[1].kind == "depth_size_mismatch"
    inp.on_camera_info(_info_msg(2.0, [0.0] * 9))
    inp.on_depth(_depth_msg(2.0, depth))
    assert inp.pair(2.0, 64, 48)[1].kind == "camera_info_invalid"
    inp.on_camera_info(_info_msg(3.0, GOOD_K))
    inp.on_depth(_depth_msg(3.0, depth, encoding="bgr8"))
    assert inp.pair(3.0, 64, 48)[1].kind == "depth_encoding"
    inp.on_depth(_depth_msg(4.0, np.full_like(depth, np.nan)))
    inp.on_camera_info(_info_msg(4.0, GOOD_K))
    assert inp.pair(4.0, 64, 48)[1].kind == "depth_empty"
    # camera_info is paired with the depth image by stamp too, within the same tolerance
    inp.on_depth(_depth_msg(5.01, depth))
    inp.on_camera_info(_info_msg(5.5, GOOD_K))
    fault = inp.pair(5.0, 64, 48)[1]
    assert fault.kind == "camera_info_unpaired" and "5.010" in fault.message
    inp.on_camera_info(_info_msg(5.025, GOOD_K))  # 15 ms from the depth image, 25 ms from the colour frame
    assert inp.pair(5.0, 64, 48)[1] is None
    inp.on_depth(_depth_msg(6.0, depth))
    inp.on_camera_info(_info_msg(6.4, GOOD_K))
    assert inp.pair(6.0, 64, 48)[1].kind == "camera_info_unpaired"
    inp.tolerance_s = 0.5  # a parameter change: camera_info 0.4 s from the depth image now pairs
    assert inp.pair(6.0, 64, 48)[1] is None


def test_position_errors_pool_over_frames() -> None:
    centres = {1: np.array([[0.0, 0.0, 2.0], [np.nan] * 3, [0.0, 0.0, 4.0]])}
    absolute, relative, missing = position3d.frame_errors([[[0.0, 0.0, 2.1]], [], []], centres, [1])
    assert absolute == pytest.approx([0.1]) and relative == pytest.approx([0.05]) and missing == 1
    summary = position3d.summary(absolute, relative, missing)
    assert summary["coverage"] == 0.5 and summary["rel_median"] == pytest.approx(0.05)


def test_synth_depth_is_consistent_with_the_drawn_scene(tmp_path) -> None:
    from parse_vos_ros.synth import generate
    from parse_vos_ros.synth_depth import load_depth, render_depth, write_depth

    scene = generate(3, 3, 8, (160, 120))  # a "depth" variant scene: one object grows, one shrinks
    depth_mm, intrinsics, centres = render_depth(scene)
    assert depth_mm.dtype == np.uint16 and depth_mm.shape == scene.ids.shape
    grower, shrinker = scene.spec.objects[0], scene.spec.objects[1]
    assert centres[grower.obj_id][-1, 2] < centres[grower.obj_id][0, 2]  # toward the camera
    assert centres[shrinker.obj_id][-1, 2] > centres[shrinker.obj_id][0, 2]
    # The plate's measured depth (median under its drawn mask) is its true distance.
    on = (scene.ids[0] == grower.obj_id) & (depth_mm[0] > 0)
    assert np.median(depth_mm[0][on]) / 1000 == pytest.approx(centres[grower.obj_id][0, 2], rel=0.01)
    write_depth(scene, tmp_path)
    paths = [tmp_path / "JPEGImages" / scene.spec.name / f"{t:05d}.jpg" for t in range(8)]
    loaded = load_depth(paths)
    assert loaded is not None and len(loaded[0]) == 8
    assert loaded[0][0].intrinsics.fx == pytest.approx(intrinsics[0, 0], abs=1e-3)
    # The estimator on the true mask recovers the true centre.
    point = target_point(loaded[0][0], scene.ids[0] == grower.obj_id)
    assert point is not None
    true = centres[grower.obj_id][0]
    assert np.linalg.norm(point.position - true) / np.linalg.norm(true) < 0.02


def test_engine_with_depth_gives_true_target_points_and_depth_facts() -> None:
    from parse_vos_ros.config import load_config
    from parse_vos_ros.engine import Engine, run_offline
    from parse_vos_ros.synth import generate
    from parse_vos_ros.synth_depth import render_depth

    scene = generate(13, 0, 20, (320, 240))
    expression = scene.spec.expressions[0]
    depth_mm, intrinsics, centres = render_depth(scene)
    depths = [DepthFrame(decode_depth("16UC1", 240, 320, 640, False, mm.tobytes()), Intrinsics(*k, 320, 240), "cam")
              for mm, k in zip(depth_mm, intrinsics, strict=True)]
    with Engine(load_config("default")) as engine, \
            Engine(load_config("default", {"engine.offline_revise": False})) as causal:
        results = run_offline(engine, list(scene.images), expression.text, fps=10.0, depths=depths)
        streamed = run_offline(causal, list(scene.images), expression.text, fps=10.0, depths=depths)
    truth = centres[expression.obj_ids[0]]
    for run in (results, streamed):
        errors = [min(np.linalg.norm(p.position - truth[t]) for p in r.points) / np.linalg.norm(truth[t])
                  for t, r in enumerate(run) if r.points and np.isfinite(truth[t]).all()]
        assert len(errors) >= 10 and float(np.median(errors)) < 0.03, errors
        assert all(p.frame_id == "cam" for r in run for p in r.points)
    # Without depth the same run has no points at all.
    with Engine(load_config("default")) as engine:
        assert not any(r.points for r in run_offline(engine, list(scene.images), expression.text, fps=10.0))


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_bag_make_carries_depth_and_camera_info(tmp_path, storage: str, capsys: pytest.CaptureFixture[str]) -> None:
    from parse_vos_ros.cli import main
    from parse_vos_ros.ros import bag
    from parse_vos_ros.synth import write_dataset

    write_dataset(tmp_path / "synth", 4, 1, 6, (96, 72), depth=True)
    seq = tmp_path / "synth" / "JPEGImages" / "s000_direction"
    depth_dir = tmp_path / "synth" / "Depth" / "s000_direction"
    assert main(["bag", "make", str(tmp_path / "b"), "--frames", str(seq), "--depth", str(depth_dir), "--fps", "10",
                 "--command", "0:the ball", "--storage", storage]) == 0
    assert "depth: yes" in capsys.readouterr().out
    contents = bag.read_bag(tmp_path / "b")
    assert len(contents.depth) == 6
    frame = contents.depth[bag.stamp_ns(contents.stamps[2])]
    from parse_vos_ros.synth_depth import read_depth_folder

    images, _ = read_depth_folder(depth_dir)
    expected = decode_depth("16UC1", 72, 96, 192, False, images[2][0].tobytes())
    np.testing.assert_array_equal(np.isnan(frame.depth_m), np.isnan(expected))
    np.testing.assert_allclose(frame.depth_m[np.isfinite(expected)], expected[np.isfinite(expected)])
    assert frame.intrinsics == images[2][1] and frame.frame_id == bag.OPTICAL_FRAME
    # Depth and camera_info precede their colour image in the bag (a node pairs them on arrival).
    from rosbags.rosbag2 import Reader

    with Reader(tmp_path / "b") as reader:
        topics = [c.topic for c, _, _ in reader.messages()]
    first_image = topics.index(bag.IMAGE_TOPIC)
    assert {bag.DEPTH_TOPIC, bag.CAMERA_INFO_TOPIC} <= set(topics[:first_image])
    assert main(["bag", "make", str(tmp_path / "c"), "--frames", str(seq), "--depth", str(tmp_path)]) == 2
    assert "camera.json" in capsys.readouterr().err
