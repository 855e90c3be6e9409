"""Occlusion order between overlapping tracks (method step 3).

Two tracks whose boxes overlap are in an occlusion relation. With a depth image the track with
the smaller measured distance (median depth under its mask) is nearer; without depth, or when
either distance is unknown, the track with the larger visible pixel area is taken as nearer the
camera (the paper's heuristic): a partly hidden object shows fewer pixels than the one in front of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from parse_vos_ros.geometry import overlap_matrix
from parse_vos_ros.types import OcclusionFact


def front_back(i: int, j: int, areas: np.ndarray, distances: np.ndarray | None = None) -> tuple[int, int, bool]:
    """Which of tracks ``i`` and ``j`` (indices into ``areas`` and ``distances``) is nearer:
    ``(front, back, measured)``. The smaller distance when both are measured (finite), else the
    larger visible area; ties go to ``i``. ``distances`` None: no depth."""
    measured = distances is not None and bool(np.isfinite(distances[i]) and np.isfinite(distances[j]))
    i_front = distances[i] <= distances[j] if measured else areas[i] >= areas[j]
    return (i, j, measured) if i_front else (j, i, measured)


def occlusion_facts(
    track_ids: Sequence[int], boxes: np.ndarray, areas: np.ndarray, min_overlap: float = 0.1,
    distances: np.ndarray | None = None,
) -> list[OcclusionFact]:
    """Occlusion facts for every overlapping pair of visible tracks.

    Args:
        track_ids: ``N`` ids.
        boxes: ``(N, 4)`` xyxy pixel boxes on the same frame.
        areas: ``(N,)`` visible mask areas in pixels.
        min_overlap: pairs overlapping less than this (intersection over smaller box) are ignored.
        distances: ``(N,)`` metres from the camera (NaN = unknown), or None without depth.

    Returns:
        One fact per overlapping pair, ``front_id`` the nearer one (smaller distance when both
        are measured, else the larger visible area), strongest overlap first.
    """
    ov = overlap_matrix(boxes)
    areas = np.asarray(areas, dtype=np.float64)
    dist = None if distances is None else np.asarray(distances, dtype=np.float64)
    ii, jj = np.nonzero(np.triu(ov >= min_overlap, k=1))
    facts = []
    for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
        front, back, measured = front_back(i, j, areas, dist)
        facts.append(OcclusionFact(int(track_ids[front]), int(track_ids[back]), float(ov[i, j]), measured))
    facts.sort(key=lambda f: -f.overlap)
    return facts
