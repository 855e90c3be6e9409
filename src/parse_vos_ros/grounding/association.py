"""Predictive association of keyframe detections with existing tracks (method step 2).

Each track's box is predicted forward with its constant, ego-compensated velocity (see
``TrackStore.predict``); the cost of pairing a track with a detection is one minus the best of
(IoU with the predicted box, IoU with the track's propagated mask box, mask overlap when both
masks exist). Pairs below the gate are forbidden; the Hungarian algorithm (scipy) picks the
assignment with the largest total overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` xyxy boxes -> ``(N, M)`` in [0, 1]."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def mask_iou_matrix(masks_a: list[np.ndarray | None], masks_b: list[np.ndarray | None]) -> np.ndarray:
    """Pairwise mask IoU; pairs where either mask is None score 0. Masks are ``(H, W) bool``."""
    out = np.zeros((len(masks_a), len(masks_b)))
    ia = [i for i, m in enumerate(masks_a) if m is not None]
    ib = [j for j, m in enumerate(masks_b) if m is not None]
    if not ia or not ib:
        return out
    # One matrix product of flattened masks gives all intersections at once.
    fa = np.stack([masks_a[i].reshape(-1) for i in ia]).astype(np.float32)
    fb = np.stack([masks_b[j].reshape(-1) for j in ib]).astype(np.float32)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    out[np.ix_(ia, ib)] = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return out


@dataclass
class Assignment:
    """Result of ``associate``.

    Attributes:
        matches: ``(track_index, detection_index, overlap)`` triples.
        unmatched_tracks: track indices with no detection.
        unmatched_detections: detection indices that start new tracks.
    """

    matches: list[tuple[int, int, float]]
    unmatched_tracks: list[int]
    unmatched_detections: list[int]


def associate(
    predicted: np.ndarray,
    detections: np.ndarray,
    gate: float,
    current: np.ndarray | None = None,
    track_masks: list[np.ndarray | None] | None = None,
    detection_masks: list[np.ndarray | None] | None = None,
) -> Assignment:
    """Match tracks to detections.

    Args:
        predicted: ``(N, 4)`` constant-velocity predicted track boxes (current-frame pixels).
        detections: ``(M, 4)`` detection boxes.
        gate: minimum overlap (IoU) for a pair to be allowed.
        current: optional ``(N, 4)`` boxes of the tracks' propagated masks on this frame
            (rows of NaN for tracks without a mask).
        track_masks, detection_masks: optional ``(H, W) bool`` masks (None where absent).
    """
    n, m = len(predicted), len(detections)
    if n == 0 or m == 0:
        return Assignment([], list(range(n)), list(range(m)))
    overlap = iou_matrix(predicted, detections)
    if current is not None:
        cur = np.nan_to_num(np.asarray(current, dtype=np.float64).reshape(-1, 4))
        overlap = np.maximum(overlap, iou_matrix(cur, detections))
    if track_masks is not None and detection_masks is not None:
        overlap = np.maximum(overlap, mask_iou_matrix(track_masks, detection_masks))
    # Forbidden pairs get a cost no allowed assignment can beat, then are filtered out.
    allowed = (overlap >= gate) & (overlap > 0)
    cost = np.where(allowed, 1.0 - overlap, 1e6)
    rows, cols = linear_sum_assignment(cost)
    matches = [(int(r), int(c), float(overlap[r, c])) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]
    mt = {r for r, _, _ in matches}
    md = {c for _, c, _ in matches}
    return Assignment(matches, [i for i in range(n) if i not in mt], [j for j in range(m) if j not in md])
