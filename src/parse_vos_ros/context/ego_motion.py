"""Camera ego-motion as an inter-frame affine transform (method step 3, "gmc" style).

Sparse Shi-Tomasi corners are found on the previous frame (outside the candidate masks, so the
objects we reason about do not vote for the camera motion), tracked into the current frame with
pyramidal Lucas-Kanade, and a 4-DoF similarity (rotation, uniform scale, translation) is fitted
with RANSAC. A similarity is what a panning/zooming/rolling camera produces to first order on
distant scenes, and it needs far fewer inliers than a full 6-DoF affine.

All coordinates are pixels of the images given to ``estimate`` (the engine's working resolution).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

IDENTITY = np.eye(2, 3, dtype=np.float64)


@dataclass
class EgoMotionParams:
    """Tuning of the estimator; the defaults suit 160-640 px wide frames.

    Attributes:
        max_corners: features tracked per frame.
        quality: Shi-Tomasi quality level relative to the strongest corner.
        min_distance_px: minimum spacing between features (pixels).
        lk_window_px: Lucas-Kanade window side (pixels).
        lk_levels: pyramid levels above the base image.
        ransac_px: RANSAC reprojection threshold (pixels).
        min_inliers: fewer inliers than this returns the identity (motion unknown).
        exclude_margin_px: candidate masks are dilated by this much before excluding features.
        max_width: frames wider than this are halved (repeatedly) before the search, which cuts
            the cost about fourfold per halving; 0 keeps the full resolution. Results are always
            in the pixels of the frames given.
    """

    max_corners: int = 150
    quality: float = 0.01
    min_distance_px: float = 7.0
    lk_window_px: int = 15
    lk_levels: int = 3
    ransac_px: float = 1.5
    min_inliers: int = 12
    exclude_margin_px: int = 5
    max_width: int = 200


@dataclass
class EgoMotionEstimate:
    """The result of one estimate.

    Attributes:
        affine: ``(2, 3) float64`` mapping previous-frame pixels to current-frame pixels.
        inliers: RANSAC inlier count (0 when the estimate failed and ``affine`` is the identity).
        tracked: features successfully tracked by LK.
    """

    affine: np.ndarray
    inliers: int
    tracked: int

    @property
    def ok(self) -> bool:
        return self.inliers > 0


class EgoMotionEstimator:
    """Estimates the camera's inter-frame similarity transform from two grayscale frames."""

    def __init__(self, params: EgoMotionParams | None = None) -> None:
        self.params = params or EgoMotionParams()
        p = self.params
        self._lk = {
            "winSize": (p.lk_window_px, p.lk_window_px),
            "maxLevel": p.lk_levels,
            "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03),
        }
        self._kernel = cv2.getStructuringElement(
            cv2.MORPH_RECT, (2 * p.exclude_margin_px + 1, 2 * p.exclude_margin_px + 1)
        )

    def _levels(self, width: int) -> int:
        """How many times frames of this width are halved before the search."""
        levels = 0
        while self.params.max_width > 0 and (width >> levels) > self.params.max_width:
            levels += 1
        return levels

    def _shrink(self, image: np.ndarray, levels: int) -> np.ndarray:
        for _ in range(levels):
            image = cv2.pyrDown(image)
        return image

    def features(self, gray: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
        """Corners on ``gray`` ``(H, W) uint8`` away from ``exclude`` ``(H, W) bool``.

        Returns ``(N, 1, 2) float32`` points at the estimator's internal scale (see
        ``EgoMotionParams.max_width``), to be handed back to ``estimate`` as ``prev_points``.
        """
        levels = self._levels(gray.shape[1])
        gray = self._shrink(gray, levels)
        allowed = None
        if exclude is not None and exclude.any():
            small = self._shrink(exclude.astype(np.uint8) * np.uint8(255), levels)
            dilated = cv2.dilate(small, self._kernel)
            allowed = np.where(dilated > 0, 0, 255).astype(np.uint8)
        p = self.params
        pts = cv2.goodFeaturesToTrack(gray, p.max_corners, p.quality, p.min_distance_px, mask=allowed, blockSize=3)
        return np.zeros((0, 1, 2), np.float32) if pts is None else pts

    def estimate(
        self,
        prev_gray: np.ndarray,
        gray: np.ndarray,
        exclude: np.ndarray | None = None,
        prev_points: np.ndarray | None = None,
    ) -> EgoMotionEstimate:
        """The affine mapping ``prev_gray`` pixels to ``gray`` pixels.

        Args:
            prev_gray, gray: ``(H, W) uint8`` consecutive frames of the same size.
            exclude: ``(H, W) bool`` regions of ``prev_gray`` whose features are ignored
                (candidate object masks); ignored when ``prev_points`` is given.
            prev_points: ``(N, 1, 2) float32`` features already found on ``prev_gray`` (saves
                the corner search when the caller cached them from the previous call).
        """
        if prev_gray.shape != gray.shape:
            raise ValueError(f"frame sizes differ: {prev_gray.shape} vs {gray.shape}")
        levels = self._levels(gray.shape[1])
        pts0 = self.features(prev_gray, exclude) if prev_points is None else prev_points
        prev_gray, gray = self._shrink(prev_gray, levels), self._shrink(gray, levels)
        if len(pts0) < self.params.min_inliers:
            return EgoMotionEstimate(IDENTITY.copy(), 0, 0)
        pts1, status, _ = cv2.calcOpticalFlowPyrLK(prev_gray, gray, pts0, None, **self._lk)
        good = status.reshape(-1).astype(bool)
        tracked = int(good.sum())
        if tracked < self.params.min_inliers:
            return EgoMotionEstimate(IDENTITY.copy(), 0, tracked)
        affine, inl = cv2.estimateAffinePartial2D(
            pts0[good],
            pts1[good],
            method=cv2.RANSAC,
            ransacReprojThreshold=self.params.ransac_px,
            maxIters=500,
            confidence=0.99,
        )
        n_inl = 0 if inl is None else int(inl.sum())
        if affine is None or n_inl < self.params.min_inliers:
            return EgoMotionEstimate(IDENTITY.copy(), 0, tracked)
        affine = affine.astype(np.float64)
        affine[:, 2] *= 2**levels  # pyrDown halves coordinates; the linear part is scale-free
        return EgoMotionEstimate(affine, n_inl, tracked)


def to3x3(affine: np.ndarray) -> np.ndarray:
    """``(2, 3)`` affine -> ``(3, 3)`` homogeneous matrix."""
    out = np.eye(3, dtype=np.float64)
    out[:2] = affine
    return out


def transform_points(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine to ``(..., 2)`` points."""
    return points @ affine[:, :2].T + affine[:, 2]


def scale_of(affine: np.ndarray) -> float:
    """Isotropic scale factor of the linear part of a ``(2, 3)`` affine (sqrt of |det|)."""
    return float(np.sqrt(abs(np.linalg.det(affine[:, :2]))))


def describe_camera(affines: np.ndarray, dt_s: float, width: int) -> str:
    """One-line summary of camera motion over a window of per-frame affines.

    Args:
        affines: ``(T, 2, 3)`` per-frame affines (previous -> current).
        dt_s: seconds the window spans.
        width: image width in pixels (small motions relative to it read as "static").
    """
    if len(affines) == 0 or dt_s <= 0:
        return "camera motion unknown"
    # Scene points move by +t when the camera pans by -t: report the camera's own direction.
    shift = -affines[:, :, 2].sum(axis=0) / dt_s
    zoom = float(np.prod([scale_of(a) for a in affines]))
    parts = []
    if abs(shift[0]) > 0.02 * width:
        parts.append(f"panning {'right' if shift[0] > 0 else 'left'} {abs(shift[0]):.0f} px/s")
    if abs(shift[1]) > 0.02 * width:
        parts.append(f"tilting {'down' if shift[1] > 0 else 'up'} {abs(shift[1]):.0f} px/s")
    if abs(np.log(zoom)) > 0.05:
        parts.append(f"zooming {'in' if zoom > 1 else 'out'} x{zoom:.2f}")
    return "camera " + ", ".join(parts) if parts else "camera static"
