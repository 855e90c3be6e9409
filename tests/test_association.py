"""Predictive association: gating, Hungarian optimality, prediction through occlusion."""

from __future__ import annotations

import numpy as np

from parse_vos_ros.geometry import covered_fraction, iou_matrix, is_one_of, mask_iou_matrix, mask_share_inside
from parse_vos_ros.grounding.association import associate
from parse_vos_ros.tracking.store import TrackStore


def test_iou_matrix_hand_values() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], float)
    np.testing.assert_allclose(iou_matrix(a, b), [[50 / 150, 0], [0, 0]])


def test_covered_fraction_counts_the_union_of_the_others_once() -> None:
    box = np.array([0, 0, 10, 10], float)
    halves = np.array([[0, 0, 5, 10], [5, 0, 20, 10]], float)  # two boxes that together hold it
    assert covered_fraction(box, halves) == 1.0
    overlapping = np.array([[0, 0, 6, 10], [4, 0, 6, 10]], float)  # the second lies in the first
    assert covered_fraction(box, overlapping) == 0.6
    assert covered_fraction(box, np.array([[20, 20, 30, 30]], float)) == 0.0
    assert covered_fraction(box, np.zeros((0, 4))) == 0.0
    assert covered_fraction(np.array([5, 5, 5, 9], float), halves) == 0.0  # an empty box


def test_mask_share_inside_counts_only_boxes_over_the_mask() -> None:
    mask = np.zeros((10, 10), bool)
    mask[2:6, 2:6] = True  # 16 pixels
    assert mask_share_inside(mask, np.array([[0, 0, 4, 10]], float)) == 0.5
    # A box left of or above the mask (a late box carried past the frame's edge) covers none of it.
    assert mask_share_inside(mask, np.array([[-8, 0, -3, 10], [0, -9, 10, -2]], float)) == 0.0
    assert mask_share_inside(np.zeros((10, 10), bool), np.array([[0, 0, 10, 10]], float)) == 0.0


def test_a_box_is_one_of_others_or_a_part_of_them() -> None:
    person = np.array([[0, 0, 10, 20]], float)
    assert is_one_of(np.array([1, 1, 11, 21], float), person)  # the same thing (IoU 0.68)
    assert is_one_of(np.array([2, 0, 8, 6], float), person)  # its head: all of it inside
    top = np.array([0, 0, 10, 6], float)  # IoU 0.3: a part or not as the mask's own pixels say
    assert not is_one_of(top, person, inside=0.5) and is_one_of(top, person, inside=0.9)
    assert not is_one_of(np.array([5, 10, 15, 30], float), person)  # half of it beside
    assert not is_one_of(np.array([0, 0, 10, 20], float), np.zeros((0, 4)))


def test_hungarian_beats_greedy() -> None:
    # Greedy would give detection 0 to track 0 (IoU 0.6) and leave track 1 unmatched;
    # the optimal assignment matches both.
    predicted = np.array([[0, 0, 10, 10], [4, 0, 14, 10]], float)
    detections = np.array([[2, 0, 12, 10], [-4, 0, 6, 10]], float)
    res = associate(predicted, detections, gate=0.2)
    assert sorted((t, d) for t, d, _ in res.matches) == [(0, 1), (1, 0)]
    assert res.unmatched_tracks == [] and res.unmatched_detections == []


def test_gate_rejects_far_detections() -> None:
    res = associate(np.array([[0, 0, 10, 10]], float), np.array([[9, 9, 19, 19]], float), gate=0.2)
    assert res.matches == [] and res.unmatched_tracks == [0] and res.unmatched_detections == [0]


def test_zero_gate_never_matches_disjoint_boxes() -> None:
    res = associate(np.array([[0, 0, 10, 10]], float), np.array([[50, 50, 60, 60]], float), gate=0.0)
    assert res.matches == []


def test_empty_inputs() -> None:
    assert associate(np.zeros((0, 4)), np.ones((2, 4)), 0.3).unmatched_detections == [0, 1]
    assert associate(np.ones((2, 4)), np.zeros((0, 4)), 0.3).unmatched_tracks == [0, 1]


def test_reidentification_after_short_occlusion_uses_the_prediction() -> None:
    """A track hidden for 15 frames is matched where its velocity says it should be now."""
    store = TrackStore(max_tracks=4, max_samples=60, window_s=2.0)
    tid = store.new_track("ball", np.array([0, 50, 20, 70.0]), 0.9, 0.0)
    for i in range(15):
        x = 4.0 * i
        store.update(i / 30, {tid: (np.array([x, 50, x + 20, 70.0]), 400.0)}, min_area=1)
    for i in range(15, 30):
        store.update(i / 30, {}, min_area=1)
    now = 30 / 30
    reappeared = np.array([[120, 50, 140, 70.0], [10, 50, 30, 70.0]])  # true position, and a decoy at the old one
    # Without prediction the stale box only overlaps the decoy.
    stale = associate(np.array([store.info[tid].box]), reappeared, gate=0.3)
    assert [d for _, d, _ in stale.matches] != [0]
    res = associate(store.predict([tid], now), reappeared, gate=0.3)
    assert [(t, d) for t, d, _ in res.matches] == [(0, 0)]


def test_current_mask_box_and_mask_overlap_also_count() -> None:
    predicted = np.array([[0, 0, 10, 10]], float)  # a bad prediction
    current = np.array([[40, 40, 50, 50]], float)  # where the propagated mask really is
    det = np.array([[41, 40, 51, 50]], float)
    assert associate(predicted, det, 0.3).matches == []
    assert len(associate(predicted, det, 0.3, current=current).matches) == 1
    m = np.zeros((60, 60), bool)
    m[40:50, 40:50] = True
    res = associate(predicted, det, 0.3, track_masks=[m], detection_masks=[m])
    assert res.matches and res.matches[0][2] == 1.0


def test_mask_iou_matrix_handles_missing_masks() -> None:
    a = np.zeros((8, 8), bool)
    a[:4] = True
    b = np.zeros((8, 8), bool)
    b[2:6] = True
    np.testing.assert_allclose(mask_iou_matrix([a, None], [b]), [[16 / 48], [0.0]])
