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

from parse_vos_ros.geometry import iou_matrix, mask_iou_matrix


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
