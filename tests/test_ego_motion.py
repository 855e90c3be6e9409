"""Ego-motion on synthetic pans, zooms and rotations with known transforms.

Error bounds (320x240 textured frames): translation within 0.25 px, rotation within 0.15 deg,
scale within 0.3 %, and the camera estimate stays within 0.5 px when a large object moves
differently but is excluded by its mask.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from engine_doubles import texture

from parse_vos_ros.context.ego_motion import EgoMotionEstimator, EgoMotionParams, describe_camera, scale_of


def _scene(seed: int = 3) -> np.ndarray:
    return cv2.cvtColor(texture(240, 320, seed), cv2.COLOR_RGB2GRAY)


def _similarity(tx: float, ty: float, angle_deg: float, scale: float, center=(160.0, 120.0)) -> np.ndarray:
    m = cv2.getRotationMatrix2D(center, angle_deg, scale)
    m[:, 2] += (tx, ty)
    return m


def _params(m: np.ndarray) -> tuple[float, float, float, float]:
    return float(m[0, 2]), float(m[1, 2]), float(np.degrees(np.arctan2(m[1, 0], m[0, 0]))), scale_of(m)


@pytest.mark.parametrize(
    ("tx", "ty", "angle", "scale"),
    [(4.0, 0.0, 0.0, 1.0), (-6.5, 2.5, 0.0, 1.0), (0.0, 0.0, 2.0, 1.0), (0.0, 0.0, 0.0, 1.04), (3.0, -2.0, -1.5, 0.97)],
)
def test_recovers_known_similarity(tx: float, ty: float, angle: float, scale: float) -> None:
    prev = _scene()
    truth = _similarity(tx, ty, angle, scale)
    cur = cv2.warpAffine(prev, truth, (320, 240), borderMode=cv2.BORDER_REFLECT)
    est = EgoMotionEstimator().estimate(prev, cur)
    assert est.ok and est.inliers >= 50
    got, want = _params(est.affine), _params(truth)
    # Compare where the transforms send a grid of points: that is what matters downstream.
    grid = np.stack(np.meshgrid(np.linspace(40, 280, 5), np.linspace(30, 210, 5)), -1).reshape(-1, 2)
    err = np.abs(grid @ est.affine[:, :2].T + est.affine[:, 2] - (grid @ truth[:, :2].T + truth[:, 2])).max()
    assert err < 0.25
    assert abs(got[2] - want[2]) < 0.15
    assert abs(got[3] - want[3]) < 0.003


def test_excluded_moving_object_does_not_bias_the_camera() -> None:
    prev = _scene(5)
    truth = _similarity(3.0, 0.0, 0.0, 1.0)
    cur = cv2.warpAffine(prev, truth, (320, 240), borderMode=cv2.BORDER_REFLECT)
    # A large textured object covering ~45 % of the frame moves 10 px the other way.
    obj = _scene(11)
    region = np.zeros((240, 320), bool)
    region[20:220, 20:180] = True
    prev_img, cur_img = prev.copy(), cur.copy()
    prev_img[region] = obj[region]
    moved = np.roll(region, -10, axis=1)
    cur_img[moved] = np.roll(obj, -10, axis=1)[moved]
    est = EgoMotionEstimator()
    excluded = est.estimate(prev_img, cur_img, exclude=region)
    assert abs(excluded.affine[0, 2] - 3.0) < 0.5 and abs(excluded.affine[1, 2]) < 0.5
    assert abs(scale_of(excluded.affine) - 1.0) < 0.01


def test_textureless_frames_give_identity_not_garbage() -> None:
    flat = np.full((240, 320), 128, np.uint8)
    est = EgoMotionEstimator().estimate(flat, flat)
    assert not est.ok
    np.testing.assert_array_equal(est.affine, np.eye(2, 3))


def test_size_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="sizes differ"):
        EgoMotionEstimator().estimate(np.zeros((10, 10), np.uint8), np.zeros((12, 10), np.uint8))


def test_cached_features_give_the_same_estimate() -> None:
    prev = _scene()
    cur = cv2.warpAffine(prev, _similarity(2.0, 1.0, 0.0, 1.0), (320, 240), borderMode=cv2.BORDER_REFLECT)
    est = EgoMotionEstimator()
    a = est.estimate(prev, cur).affine
    b = est.estimate(prev, cur, prev_points=est.features(prev)).affine
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_describe_camera() -> None:
    pan = np.tile(_similarity(-4.0, 0.0, 0.0, 1.0), (30, 1, 1))  # scene moves left: camera pans right
    assert describe_camera(pan, 1.0, 320).startswith("camera panning right 120 px/s")
    zoom = np.tile(_similarity(0.0, 0.0, 0.0, 1.01), (30, 1, 1))
    assert "zooming in" in describe_camera(zoom, 1.0, 320)
    assert describe_camera(np.tile(np.eye(2, 3), (30, 1, 1)), 1.0, 320) == "camera static"
    assert describe_camera(np.zeros((0, 2, 3)), 1.0, 320) == "camera motion unknown"


@pytest.mark.parametrize("max_width", [0, 100])
def test_search_resolution_does_not_change_the_units(max_width: int) -> None:
    prev = _scene(2)
    truth = _similarity(5.0, -3.0, 1.0, 1.02)
    cur = cv2.warpAffine(prev, truth, (320, 240), borderMode=cv2.BORDER_REFLECT)
    est = EgoMotionEstimator(EgoMotionParams(max_width=max_width)).estimate(prev, cur)
    assert est.ok
    np.testing.assert_allclose(est.affine[:, 2], truth[:, 2], atol=0.5 if max_width else 0.25)
    np.testing.assert_allclose(est.affine[:, :2], truth[:, :2], atol=0.01)
