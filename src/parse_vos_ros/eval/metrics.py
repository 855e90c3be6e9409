"""J&F metrics exactly as the official DAVIS evaluation defines them.

Region similarity ``J`` is the intersection over union of the predicted and ground-truth masks,
with the convention that two empty masks score 1. Boundary accuracy ``F`` is the F-measure
between the 1-pixel boundary maps of the two masks (``seg2bmap``), where a boundary pixel
counts as matched when the other boundary lies within a disk of radius
``ceil(0.008 x image diagonal)`` pixels (8 px at 854x480). ``J&F`` is their mean.

Per sequence, each measure is summarised by its mean, its recall (fraction of frames scoring
> 0.5) and its decay (mean of the first quarter of frames minus mean of the last quarter),
as in ``db_statistics`` of the DAVIS toolkits. Everything is vectorised with numpy/OpenCV.

Masks are ``(H, W)`` arrays where any value > 0 (or True) is foreground; stacks are
``(T, H, W)``. Optional ``void`` masks (same shape) mark pixels that are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

BOUNDARY_THRESHOLD = 0.008  # fraction of the image diagonal (DAVIS ``bound_th``)


def _as_bool(mask: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(mask)
    if array.ndim < 2:
        raise ValueError(f"{name} must be a (H, W) or (T, H, W) mask, got shape {array.shape}")
    return array > 0 if array.dtype != bool else array


def _check_shapes(gt: np.ndarray, pred: np.ndarray) -> None:
    if gt.shape != pred.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}")


def region_similarity(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None) -> np.ndarray:
    """J: IoU of ``pred`` and ``gt`` (``(H, W)`` or ``(T, H, W)``), 1 where the union is empty.

    Returns a float64 scalar array for one mask, ``(T,)`` for a stack.
    """
    gt_b, pred_b = _as_bool(gt, "gt"), _as_bool(pred, "pred")
    _check_shapes(gt_b, pred_b)
    keep = np.ones_like(gt_b) if void is None else ~_as_bool(void, "void")
    inter = np.count_nonzero(gt_b & pred_b & keep, axis=(-2, -1))
    union = np.count_nonzero((gt_b | pred_b) & keep, axis=(-2, -1))
    # Empty union: both masks agree that nothing is there, which DAVIS scores as perfect.
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1)).astype(np.float64)


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """The DAVIS 1-pixel boundary map of a ``(H, W)`` mask, ``(H, W) bool``.

    A pixel is a boundary pixel when it differs from its east, south or south-east neighbour;
    on the last row only the east neighbour, on the last column only the south neighbour is
    compared, and the bottom-right pixel is never a boundary (as in the reference code).
    So a foreground region touching the right or bottom image border has no boundary there,
    while one touching the left or top border does not get one from the border either.
    """
    seg = _as_bool(seg, "seg")
    if seg.ndim != 2:
        raise ValueError(f"seg2bmap takes one (H, W) mask, got shape {seg.shape}")
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    bmap = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    bmap[-1, :] = seg[-1, :] ^ east[-1, :]
    bmap[:, -1] = seg[:, -1] ^ south[:, -1]
    bmap[-1, -1] = False
    return bmap


@lru_cache(maxsize=16)
def disk(radius: int) -> np.ndarray:
    """``(2r+1, 2r+1) uint8`` disk structuring element: 1 where ``x^2 + y^2 <= r^2``."""
    r = int(radius)
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    element = (x * x + y * y <= r * r).astype(np.uint8)
    element.setflags(write=False)
    return element


def boundary_radius(shape: tuple[int, ...], bound_th: float = BOUNDARY_THRESHOLD) -> int:
    """Tolerance radius in pixels: ``bound_th`` itself when >= 1, else ``ceil(bound_th x diagonal)``."""
    if bound_th >= 1:
        return int(bound_th)
    height, width = shape[-2], shape[-1]
    return math.ceil(bound_th * math.hypot(height, width))


def boundary_measure(
    gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None, bound_th: float = BOUNDARY_THRESHOLD
) -> float:
    """F: boundary F-measure of one ``(H, W)`` prediction against its ground truth.

    Conventions (from the reference code): no boundary in either mask scores 1; a boundary in
    only one of them scores 0.
    """
    gt_b, pred_b = _as_bool(gt, "gt"), _as_bool(pred, "pred")
    _check_shapes(gt_b, pred_b)
    if gt_b.ndim != 2:
        raise ValueError(f"boundary_measure takes (H, W) masks, got shape {gt_b.shape}")
    if void is not None:
        keep = ~_as_bool(void, "void")
        gt_b, pred_b = gt_b & keep, pred_b & keep
    element = disk(boundary_radius(gt_b.shape, bound_th))
    pred_bound = seg2bmap(pred_b)
    gt_bound = seg2bmap(gt_b)
    n_pred = int(np.count_nonzero(pred_bound))
    n_gt = int(np.count_nonzero(gt_bound))
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0  # precision or recall is 0 and the other is 1
    pred_dil = cv2.dilate(pred_bound.view(np.uint8), element) > 0
    gt_dil = cv2.dilate(gt_bound.view(np.uint8), element) > 0
    precision = np.count_nonzero(pred_bound & gt_dil) / n_pred
    recall = np.count_nonzero(gt_bound & pred_dil) / n_gt
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def boundary_measures(
    gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None, bound_th: float = BOUNDARY_THRESHOLD
) -> np.ndarray:
    """F for every frame of ``(T, H, W)`` stacks, ``(T,) float64``."""
    gt_b, pred_b = _as_bool(gt, "gt"), _as_bool(pred, "pred")
    _check_shapes(gt_b, pred_b)
    if gt_b.ndim == 2:
        return np.asarray([boundary_measure(gt_b, pred_b, void, bound_th)])
    voids = [None] * len(gt_b) if void is None else list(_as_bool(void, "void"))
    return np.asarray([boundary_measure(g, p, v, bound_th) for g, p, v in zip(gt_b, pred_b, voids, strict=True)])


def statistics(values: np.ndarray, n_bins: int = 4) -> tuple[float, float, float]:
    """(mean, recall, decay) of per-frame values as DAVIS ``db_statistics`` computes them.

    Recall is the fraction of frames with value > 0.5. Decay splits the frames into ``n_bins``
    overlapping quantiles at ``round(linspace(1, T, n_bins + 1)) - 1`` and subtracts the mean of
    the last from the mean of the first (the reference casts these indices to uint8, which
    overflows past 256 frames; here they stay integers). NaN values are ignored.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(np.nanmean(values)) if np.any(~np.isnan(values)) else math.nan
    valid = ~np.isnan(values)
    recall = float(np.mean(values[valid] > 0.5)) if np.any(valid) else math.nan
    ids = (np.round(np.linspace(1, len(values), n_bins + 1) + 1e-10) - 1).astype(np.int64)
    bins = [values[ids[i] : ids[i + 1] + 1] for i in range(n_bins)]
    first, last = bins[0], bins[-1]
    if np.all(np.isnan(first)) or np.all(np.isnan(last)):
        return mean, recall, math.nan
    decay = float(np.nanmean(first) - np.nanmean(last))
    return mean, recall, decay


@dataclass
class SequenceScores:
    """Per-frame J and F of one predicted mask sequence.

    Attributes:
        j: ``(T,) float64`` region similarity per frame.
        f: ``(T,) float64`` boundary accuracy per frame.
        frames: frame names (or indices as strings), one per value.
    """

    j: np.ndarray
    f: np.ndarray
    frames: list[str] = field(default_factory=list)

    @property
    def jf(self) -> np.ndarray:
        """``(T,)`` per-frame mean of J and F."""
        return (self.j + self.f) / 2

    def summary(self) -> dict[str, float]:
        """Mean/recall/decay of J and F plus J&F mean, as a flat dict (JSON-ready)."""
        j_m, j_r, j_d = statistics(self.j)
        f_m, f_r, f_d = statistics(self.f)
        return {
            "J&F": (j_m + f_m) / 2,
            "J": j_m,
            "J_recall": j_r,
            "J_decay": j_d,
            "F": f_m,
            "F_recall": f_r,
            "F_decay": f_d,
            "frames": float(len(self.j)),
        }

    def per_frame(self) -> list[dict[str, object]]:
        """One ``{"frame", "J", "F", "J&F"}`` row per frame."""
        names = self.frames or [str(i) for i in range(len(self.j))]
        return [
            {"frame": n, "J": float(j), "F": float(f), "J&F": float((j + f) / 2)}
            for n, j, f in zip(names, self.j, self.f, strict=True)
        ]


def evaluate_sequence(
    gt: np.ndarray,
    pred: np.ndarray,
    void: np.ndarray | None = None,
    frames: list[str] | None = None,
    bound_th: float = BOUNDARY_THRESHOLD,
) -> SequenceScores:
    """J and F on every frame of ``(T, H, W)`` ground-truth and prediction stacks."""
    gt_b, pred_b = _as_bool(gt, "gt"), _as_bool(pred, "pred")
    _check_shapes(gt_b, pred_b)
    if gt_b.ndim == 2:
        gt_b, pred_b = gt_b[None], pred_b[None]
        void = None if void is None else np.asarray(void)[None]
    j = region_similarity(gt_b, pred_b, void)
    f = boundary_measures(gt_b, pred_b, void, bound_th)
    return SequenceScores(j=np.atleast_1d(j), f=f, frames=list(frames or []))


def mean_over_sequences(summaries: list[dict[str, float]]) -> dict[str, float]:
    """Dataset-level means: every statistic averaged over sequences (or expressions), as DAVIS
    reports them (each sequence weighs the same whatever its length)."""
    if not summaries:
        return {}
    keys = [k for k in summaries[0] if k != "frames"]
    out = {k: float(np.nanmean([s[k] for s in summaries])) for k in keys}
    out["count"] = float(len(summaries))
    return out
