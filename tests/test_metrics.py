"""J&F metrics on hand-checkable masks; expected values are derived by hand from the DAVIS definition.

Useful facts for the derivations below (from ``seg2bmap``): the boundary of a filled rectangle
``rows r0..r1, cols c0..c1`` (inclusive, away from the right/bottom borders) is the perimeter of
the box ``rows r0-1..r1, cols c0-1..c1``; a 100x100 image has tolerance radius
``ceil(0.008 * 141.42) = 2`` px; a DAVIS 854x480 frame has ``ceil(0.008 * 979.6) = 8`` px.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from parse_vos_ros.cli import main
from parse_vos_ros.eval.maskio import read_ids, voc_palette, write_ids, write_mask
from parse_vos_ros.eval.metrics import (
    boundary_measure,
    boundary_radius,
    disk,
    evaluate_sequence,
    region_similarity,
    seg2bmap,
    statistics,
)


def rect(h: int, w: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    mask[r0 : r1 + 1, c0 : c1 + 1] = True
    return mask


def test_radius_follows_the_image_diagonal() -> None:
    assert boundary_radius((100, 100)) == 2
    assert boundary_radius((480, 854)) == 8
    assert boundary_radius((480, 854), bound_th=3) == 3
    assert disk(2).sum() == 13  # (0,0), 4 at distance 1, 4 at sqrt(2), 4 at distance 2


def test_empty_empty_is_perfect() -> None:
    empty = np.zeros((40, 60), dtype=bool)
    assert region_similarity(empty, empty) == 1.0
    assert boundary_measure(empty, empty) == 1.0


def test_empty_against_non_empty_scores_zero() -> None:
    empty = np.zeros((40, 60), dtype=bool)
    obj = rect(40, 60, 10, 19, 10, 29)
    for gt, pred in ((empty, obj), (obj, empty)):
        assert region_similarity(gt, pred) == 0.0
        assert boundary_measure(gt, pred) == 0.0


def test_identical_masks_are_perfect() -> None:
    obj = rect(50, 70, 5, 30, 8, 40)
    assert region_similarity(obj, obj) == 1.0
    assert boundary_measure(obj, obj) == 1.0


def test_rectangle_boundary_is_the_shifted_perimeter() -> None:
    bmap = seg2bmap(rect(100, 100, 20, 39, 20, 39))
    expected = rect(100, 100, 19, 39, 19, 39) & ~rect(100, 100, 20, 38, 20, 38)
    assert np.array_equal(bmap, expected)
    assert bmap.sum() == 80


def test_shifted_rectangles() -> None:
    # 20x20 squares shifted by 10 columns: intersection 200, union 600 -> J = 1/3.
    gt = rect(100, 100, 20, 39, 20, 39)
    pred = rect(100, 100, 20, 39, 30, 49)
    assert region_similarity(gt, pred) == pytest.approx(1 / 3)
    # Pred boundary: box rows 19..39, cols 29..49 (80 px). Within 2 px of the GT box
    # (rows 19..39, cols 19..39): top and bottom rows cols 29..41 (13 each) and on the left
    # column rows 20, 21, 37, 38 (4) -> 30/80 = 0.375; recall is the same by symmetry.
    assert boundary_measure(gt, pred) == pytest.approx(0.375)


def test_thin_structures() -> None:
    # A 1-px vertical line: boundary = box rows 9..89, cols 49..50 (162 px).
    gt = rect(100, 100, 10, 89, 50, 50)
    shifted_1 = rect(100, 100, 10, 89, 51, 51)
    shifted_3 = rect(100, 100, 10, 89, 53, 53)
    assert region_similarity(gt, shifted_1) == 0.0  # no pixel in common
    assert boundary_measure(gt, shifted_1) == 1.0  # every boundary pixel is within 2 px
    # Shifted by 3: pred boundary cols 52..53; only col 52 is within 2 px of col 50 -> 81/162.
    assert region_similarity(gt, shifted_3) == 0.0
    assert boundary_measure(gt, shifted_3) == pytest.approx(0.5)


def test_image_borders() -> None:
    # A mask covering the whole frame has no boundary at all (the right/bottom rules
    # never compare against outside pixels), so it matches an empty mask on F.
    full = np.ones((100, 100), dtype=bool)
    empty = np.zeros((100, 100), dtype=bool)
    assert not seg2bmap(full).any()
    assert region_similarity(full, empty) == 0.0
    assert boundary_measure(full, empty) == 1.0
    # The left half and the right half share the same boundary: column 49, all 100 rows.
    left = rect(100, 100, 0, 99, 0, 49)
    right = rect(100, 100, 0, 99, 50, 99)
    assert np.array_equal(np.argwhere(seg2bmap(left))[:, 1], np.full(100, 49))
    assert np.array_equal(seg2bmap(left), seg2bmap(right))
    assert region_similarity(left, right) == 0.0
    assert boundary_measure(left, right) == 1.0


def test_void_pixels_are_ignored() -> None:
    gt = rect(40, 40, 10, 19, 10, 19)
    pred = rect(40, 40, 10, 19, 10, 29)  # 100 extra pixels at cols 20..29
    void = rect(40, 40, 0, 39, 20, 39)
    assert region_similarity(gt, pred) == pytest.approx(0.5)
    assert region_similarity(gt, pred, void) == 1.0


def test_stacks_give_one_value_per_frame() -> None:
    gt = np.stack([rect(100, 100, 20, 39, 20, 39), np.zeros((100, 100), bool)])
    pred = np.stack([rect(100, 100, 20, 39, 30, 49), np.zeros((100, 100), bool)])
    scores = evaluate_sequence(gt, pred, frames=["a", "b"])
    assert scores.j == pytest.approx([1 / 3, 1.0])
    assert scores.f == pytest.approx([0.375, 1.0])
    summary = scores.summary()
    assert summary["J&F"] == pytest.approx(((1 / 3 + 1) / 2 + (0.375 + 1) / 2) / 2)
    assert [row["frame"] for row in scores.per_frame()] == ["a", "b"]


def test_shape_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="differs"):
        region_similarity(np.zeros((4, 5)), np.zeros((5, 4)))


def test_statistics_mean_recall_decay() -> None:
    # T = 8: quantile edges round(linspace(1, 8, 5)) - 1 = [0, 2, 4, 5, 7];
    # first bin frames 0..2, last bin frames 5..7.
    values = np.arange(8) / 7
    mean, recall, decay = statistics(values)
    assert mean == pytest.approx(0.5)
    assert recall == pytest.approx(4 / 8)  # 4/7, 5/7, 6/7, 1 are > 0.5
    assert decay == pytest.approx(1 / 7 - 6 / 7)
    # Long sequences: the indices do not wrap around at 256 frames.
    long = np.r_[np.ones(150), np.zeros(150)]
    assert statistics(long)[2] == pytest.approx(1.0)


def _reference_f(gt: np.ndarray, pred: np.ndarray) -> float:
    """F from the definition with Euclidean distance transforms instead of dilation."""
    radius = boundary_radius(gt.shape)
    gb, pb = seg2bmap(gt), seg2bmap(pred)
    if not gb.any() and not pb.any():
        return 1.0
    if not gb.any() or not pb.any():
        return 0.0
    dist_to_g = ndimage.distance_transform_edt(~gb)
    dist_to_p = ndimage.distance_transform_edt(~pb)
    precision = np.mean(dist_to_g[pb] <= radius)
    recall = np.mean(dist_to_p[gb] <= radius)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), h=st.integers(8, 60), w=st.integers(8, 60))
def test_f_matches_a_distance_transform_reference(seed: int, h: int, w: int) -> None:
    rng = np.random.default_rng(seed)
    gt = ndimage.binary_opening(rng.random((h, w)) < 0.5)
    pred = ndimage.binary_opening(rng.random((h, w)) < 0.5)
    assert boundary_measure(gt, pred) == pytest.approx(_reference_f(gt, pred))


def test_voc_palette_matches_davis() -> None:
    palette = voc_palette()
    assert palette[0].tolist() == [0, 0, 0]
    assert palette[1].tolist() == [128, 0, 0]
    assert palette[2].tolist() == [0, 128, 0]
    assert palette[3].tolist() == [128, 128, 0]


def test_palette_masks_round_trip(tmp_path) -> None:
    ids = np.zeros((12, 16), dtype=np.uint8)
    ids[2:5, 3:9] = 1
    ids[6:10, 1:4] = 3
    write_ids(tmp_path / "a.png", ids)
    assert np.array_equal(read_ids(tmp_path / "a.png"), ids)


def test_metrics_command(tmp_path, capsys) -> None:
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    write_mask(gt_dir / "00000.png", rect(100, 100, 20, 39, 20, 39))
    write_mask(gt_dir / "00001.png", rect(100, 100, 10, 89, 50, 50))
    write_mask(pred_dir / "00000.png", rect(100, 100, 20, 39, 30, 49))
    write_mask(pred_dir / "00001.png", rect(100, 100, 10, 89, 53, 53))
    assert main(["metrics", "--pred", str(pred_dir), "--gt", str(gt_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    frames = result["sequences"][""]["frames"]
    assert [f["J"] for f in frames] == pytest.approx([1 / 3, 0.0])
    assert [f["F"] for f in frames] == pytest.approx([0.375, 0.5])
    assert result["mean"]["J&F"] == pytest.approx((1 / 3 + 0.375 + 0.5) / 4)

    assert main(["metrics", "--pred", str(pred_dir), "--gt", str(gt_dir)]) == 0
    text = capsys.readouterr().out
    assert "00000\tJ=0.3333\tF=0.3750" in text
    assert text.strip().splitlines()[-1].startswith("mean\tJ=0.1667")


def test_metrics_command_sequence_folders_and_missing_frames(tmp_path, capsys) -> None:
    for seq in ("s1", "s2"):
        write_mask(tmp_path / "gt" / seq / "0.png", rect(20, 20, 2, 9, 2, 9))
        write_mask(tmp_path / "pred" / seq / "0.png", rect(20, 20, 2, 9, 2, 9))
    assert main(["metrics", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["sequences"]) == {"s1", "s2"}
    assert result["mean"]["J&F"] == 1.0
    write_mask(tmp_path / "gt" / "s2" / "1.png", rect(20, 20, 2, 9, 2, 9))
    assert main(["metrics", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt")]) == 2
    assert "no prediction for 1 ground-truth frame(s): 1" in capsys.readouterr().err
