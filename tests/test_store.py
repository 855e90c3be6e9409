"""The bounded track store: ego compensation, windowing, prediction and the memory bound."""

from __future__ import annotations

import numpy as np
import pytest

from parse_vos_ros.tracking.store import HistoryRecorder, TrackStore, affine_boxes


def _shift(dx: float, dy: float = 0.0) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])


def test_panning_camera_is_removed_from_compensated_boxes() -> None:
    store = TrackStore(max_tracks=4, max_samples=30, window_s=1.0)  # one sample per frame at 30 fps
    tid = store.new_track("ball", np.array([100, 100, 120, 120.0]), 0.9, 0.0)
    assert tid is not None
    # The object is static in the world; the camera pans so it moves 2 px/frame left in the image.
    for i in range(30):
        if i:
            store.apply_ego(_shift(-2.0))
        x = 100 - 2.0 * i
        store.update(i / 30, {tid: (np.array([x, 100, x + 20, 120.0]), 400.0)}, min_area=1)
    (tr,) = store.trajectories(29 / 30)
    assert len(tr) == 30
    assert np.ptp(tr.boxes[:, 0]) == pytest.approx(58.0)  # raw image boxes moved
    assert np.ptp(tr.comp_boxes[:, 0]) < 1e-9  # compensated boxes did not
    np.testing.assert_allclose(store.info[tid].velocity, 0.0, atol=1e-9)


def test_velocity_and_constant_velocity_prediction() -> None:
    store = TrackStore(max_tracks=2, max_samples=50, window_s=5.0)
    tid = store.new_track("ball", np.array([0, 0, 10, 10.0]), 0.9, 0.0)
    for i in range(20):
        x = 3.0 * i  # 90 px/s at 30 fps
        store.update(i / 30, {tid: (np.array([x, 0, x + 10, 10.0]), 100.0)}, min_area=1)
    np.testing.assert_allclose(store.info[tid].velocity, [90.0, 0.0], rtol=1e-3)
    # Invisible for 10 frames: the prediction keeps moving at the same velocity.
    for i in range(20, 30):
        store.update(i / 30, {}, min_area=1)
    pred = store.predict([tid], 30 / 30)
    np.testing.assert_allclose(pred[0], [57 + 33, 0, 67 + 33, 10], atol=0.5)
    (tr,) = store.trajectories(29 / 30)
    np.testing.assert_array_equal(tr.visible, tr.stamps < 19.5 / 30)


def test_window_drops_old_samples_and_samples_span_the_window() -> None:
    store = TrackStore(max_tracks=2, max_samples=10, window_s=1.0)
    tid = store.new_track("x", np.array([0, 0, 5, 5.0]), 1.0, 0.0)
    for i in range(90):  # 3 s at 30 fps
        store.update(i / 30, {tid: (np.array([i, 0, i + 5, 5.0]), 25.0)}, min_area=1)
    (tr,) = store.trajectories(89 / 30)
    assert 9 <= len(tr) <= 10
    assert tr.stamps[0] >= 89 / 30 - 1.0 - 1e-9
    assert np.all(np.diff(tr.stamps) >= 0.099)


def test_capacity_and_removal() -> None:
    store = TrackStore(max_tracks=2, max_samples=10, window_s=1.0)
    a = store.new_track("a", np.zeros(4), 1.0, 0.0)
    b = store.new_track("b", np.zeros(4), 1.0, 0.0)
    assert store.new_track("c", np.zeros(4), 1.0, 0.0) is None
    store.remove([a, 999])
    c = store.new_track("c", np.zeros(4), 1.0, 0.0)
    assert c is not None and c not in (a, b)  # ids are never reused
    assert set(store.ids) == {b, c}


def test_memory_is_bounded_over_a_long_stream() -> None:
    """6,000 frames (the ring wraps ~90 times) of births, deaths, crops and camera motion: bytes stay capped."""
    rng = np.random.default_rng(0)
    store = TrackStore(max_tracks=8, max_samples=64, window_s=2.0, max_crops=3, crop_side_px=32)
    sizes = []
    for i in range(6_000):
        t = i / 30
        store.apply_ego(_shift(rng.normal(0, 1), rng.normal(0, 1)))
        if i % 7 == 0:
            store.new_track("x", rng.uniform(0, 100, 4), 0.5, t)
        if i % 11 == 0 and len(store):
            store.remove([store.ids[0]])
        obs = {tid: (np.array([10, 10, 50, 40.0]), 900.0) for tid in store.ids}
        store.update(t, obs, min_area=1)
        if i % 15 == 0:
            for tid in store.ids:
                store.add_crop(tid, t, np.zeros((80, 60, 3), np.uint8))
        if i % 1000 == 999:
            sizes.append(store.window_bytes())
    bound = store.window_bytes() - sum(c.nbytes for info in store.info.values() for _, c in info.crops)
    bound += 8 * 3 * 32 * 32 * 3
    assert max(sizes) <= bound
    assert len(store) <= 8
    assert all(len(info.crops) <= 3 for info in store.info.values())
    assert all(max(c.shape[:2]) <= 32 for info in store.info.values() for _, c in info.crops)


def test_affine_boxes_scales_sizes() -> None:
    zoom = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    np.testing.assert_allclose(affine_boxes(zoom, np.array([10, 10, 20, 30.0])), [20, 20, 40, 60])


def test_history_recorder_round_trips_masks_and_compensates() -> None:
    store = TrackStore(max_tracks=2, max_samples=10, window_s=1.0)
    tid = store.new_track("x", np.zeros(4), 1.0, 0.0)
    rec = HistoryRecorder()
    masks = []
    for i in range(5):
        m = np.zeros((40, 60), bool)
        m[10:20, 5 + 4 * i : 15 + 4 * i] = True
        masks.append(m)
        rec.record(i / 10, _shift(2.0) if i else np.eye(2, 3), {tid: m}, store, np.zeros((40, 60, 3), np.uint8))
    for i in range(5):
        np.testing.assert_array_equal(rec.union_mask(i, (tid,)), masks[i])
    (tr,) = rec.trajectories([tid])
    # Image motion 4 px/frame, camera 2 px/frame: 2 px/frame of object motion remains.
    np.testing.assert_allclose(np.diff(tr.comp_boxes[:, 0]), 2.0)
    assert rec.candidates == {tid}


def test_history_recorder_chains_a_broken_track_but_not_a_distant_one() -> None:
    store = TrackStore(max_tracks=4, max_samples=10, window_s=1.0)
    rec = HistoryRecorder()
    pan = _shift(-3.0)  # the camera pans: image positions drift 3 px/frame left
    for i in range(24):
        masks = {}
        x = 20 + 4 * i - 3 * i  # 4 px/frame in the world
        m = np.zeros((60, 200), bool)
        m[20:30, x : x + 10] = True
        if i < 10:
            masks[1] = m  # the first fragment
        elif i >= 14:
            masks[2] = m  # the same object after a 4-frame break, as a new track
        if i >= 14:
            far = np.zeros((60, 200), bool)
            far[40:50, 150:160] = True
            masks[3] = far
        rec.record(i / 10, pan if i else np.eye(2, 3), masks, store, np.zeros((60, 200, 3), np.uint8))
    assert rec.chain((1,), [1, 2, 3], max_gap_s=1.0) == (1, 2)
    assert rec.chain((2,), [1, 2, 3], max_gap_s=1.0) == (2, 1)
    assert rec.chain((1,), [1, 2, 3], max_gap_s=0.2) == (1,)  # the break is 0.5 s


def test_history_recorder_chain_takes_one_continuation_per_break() -> None:
    """Two tracks start near where the first ended: one object is in one place, so only the nearer
    continues the chain, and a track overlapping the chain in time never joins it."""
    store = TrackStore(max_tracks=4, max_samples=10, window_s=1.0)
    rec = HistoryRecorder()
    for i in range(20):
        masks = {}
        box = np.zeros((60, 200), bool)
        if i < 8:
            box[20:30, 20 + 2 * i : 30 + 2 * i] = True
            masks[1] = box
        else:
            near, other = np.zeros((60, 200), bool), np.zeros((60, 200), bool)
            near[20:30, 38 + 2 * (i - 8) : 48 + 2 * (i - 8)] = True  # where track 1 was heading
            other[24:34, 44:54] = True  # within one box size too, but farther
            masks[2], masks[3] = near, other
        rec.record(i / 10, np.eye(2, 3), masks, store, np.zeros((60, 200, 3), np.uint8))
    assert rec.chain((1,), [1, 2, 3], max_gap_s=1.0) == (1, 2)


def test_track_score_counts_keyframes_without_a_detection() -> None:
    store = TrackStore(max_tracks=2, max_samples=10, window_s=5.0)
    kept = store.new_track("x", np.array([0.0, 0, 10, 10]), 0.8, 0.0)
    once = store.new_track("x", np.array([20.0, 0, 30, 10]), 0.8, 0.0)
    for k in range(3):
        store.count_keyframe([kept, once])
        store.add_detection(kept, "x", 0.8, 0.5 * (k + 1))
    assert store.info[kept].score == pytest.approx(0.8)
    assert store.info[once].score == pytest.approx(0.8 / 4)  # detected on 1 keyframe of 4


def test_history_recorder_occlusions_over_the_whole_video() -> None:
    """A wheel (2) inside a car (1) on every frame; a passer-by (3) crossing the car on 2 of 8
    frames (median overlap 0: no fact); a track (4) overlapping only twice (too few frames)."""
    store = TrackStore(max_tracks=4, max_samples=10, window_s=1.0)
    ids = [store.new_track("x", np.zeros(4), 1.0, 0.0) for _ in range(4)]
    rec = HistoryRecorder()
    for i in range(8):
        car = np.zeros((60, 100), bool)
        car[20:40, 10:60] = True
        wheel = np.zeros_like(car)
        wheel[32:40, 14:22] = True
        walker = np.zeros_like(car)
        x = 50 if i in (3, 4) else 80  # crosses the car's right end on frames 3 and 4 only
        walker[15:45, x : x + 6] = True
        masks = {ids[0]: car, ids[1]: wheel, ids[2]: walker}
        if i < 2:
            late = np.zeros_like(car)
            late[22:30, 40:48] = True
            masks[ids[3]] = late
        rec.record(i / 10, np.eye(2, 3), masks, store, np.zeros((60, 100, 3), np.uint8))
    facts = rec.occlusions(ids)
    assert [(f.front_id, f.back_id) for f in facts] == [(ids[0], ids[1])]
    assert facts[0].overlap == pytest.approx(1.0)


def test_detection_boxes_land_on_the_next_sample_streaming_and_offline() -> None:
    """A detection applied between two samples is kept with the later one; samples without a
    detection since the one before have none (NaN); the whole-video history keeps the same."""
    store = TrackStore(max_tracks=2, max_samples=10, window_s=1.0)  # a sample every 0.1 s
    tid = store.new_track("x", np.array([0.0, 0, 10, 20]), 0.9, 0.0)
    store.add_detected_box(tid, 0.0, np.array([0.0, 0, 10, 20]))  # the detection it started from
    rec = HistoryRecorder()
    for i in range(10):  # 30 fps: samples on frames 0, 3, 6, 9
        stamp = i / 30
        if i in (4, 8):
            store.add_detected_box(tid, stamp, np.array([0.0, 0, 10, 20 + i]))
        store.update(stamp, {tid: (np.array([0.0, 0, 10, 20]), 200.0)}, min_area=1)
        mask = np.zeros((40, 40), bool)
        mask[:20, :10] = True
        rec.record(stamp, np.eye(2, 3), {tid: mask}, store, np.zeros((40, 40, 3), np.uint8))
    (tr,) = store.trajectories(9 / 30)
    np.testing.assert_allclose(tr.stamps, [0, 0.1, 0.2, 0.3])
    np.testing.assert_array_equal(tr.detected[:, 3], [20, np.nan, 24, 28])
    (whole,) = rec.trajectories([tid])
    assert np.flatnonzero(np.isfinite(whole.detected[:, 3])).tolist() == [0, 4, 8]
    np.testing.assert_array_equal(whole.detected[[0, 4, 8], 3], [20, 24, 28])
