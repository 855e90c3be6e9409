"""Which keyframe detections start tracks: strong enough, not just pruned, best first, capped;
and, for a worker that cuts new tracks ahead, which ones will likely do so."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from parse_vos_ros.config import Config
from parse_vos_ros.geometry import iou_matrix, mask_box
from parse_vos_ros.tracking.store import affine_boxes
from parse_vos_ros.types import Detection

BIRTH_RELATIVE = 0.3  # a detection starts a track only if it scores at least this x the keyframe's best
SUPPRESS_IOU = 0.5  # detections overlapping a just-pruned track this much start no track
SEARCH_BIRTHS_FACTOR = 2  # births per keyframe are multiplied by this while nothing is selected unambiguously


@dataclass(frozen=True)
class PrunedBox:
    """A pruned track's box, moved on at its velocity, so its object is not started again at once."""

    box: np.ndarray  # (4,) xyxy, current-frame pixels
    velocity: np.ndarray  # (2,) compensated pixels per second
    stamp: float
    expiry: float

    def moved(self, affine: np.ndarray, stamp: float) -> PrunedBox:
        """Carried into the next frame: camera motion ``(2, 3)`` plus its own motion up to ``stamp``."""
        shift = self.velocity * (stamp - self.stamp)
        box = affine_boxes(affine, self.box) + np.concatenate([shift, shift])
        return PrunedBox(box, affine[:, :2] @ self.velocity, stamp, self.expiry)


def usable(detections: list[Detection], config: Config) -> list[int]:
    """The detections (indices) a keyframe matches and starts tracks from: finite boxes, none that
    only rules tracks out (``Detection.rules_out``), the first ``grounding.max_detections``."""
    return [i for i, d in enumerate(detections)
            if np.all(np.isfinite(d.box)) and not d.rules_out][:config.grounding.max_detections]


def birth_order(detections: list[Detection], unmatched: Iterable[int], config: Config, wide: bool) -> list[int]:
    """The ``unmatched`` detections (indices) strong enough to start a track, best first.

    Every track costs propagation time on every frame, so weak detections (below
    ``engine.min_detection_score`` or ``BIRTH_RELATIVE`` x the keyframe's best) start none.
    """
    unmatched = list(unmatched)
    if not unmatched:
        return []
    floor = max(config.engine.min_detection_score, BIRTH_RELATIVE * max(d.score for d in detections))
    return sorted((i for i in unmatched if detections[i].score >= floor), key=lambda i: -detections[i].score)


def births_cap(config: Config, wide: bool) -> int:
    """Tracks one keyframe may start; ``wide``: nothing told apart yet, a wider net
    (``SEARCH_BIRTHS_FACTOR``) that pruning trims once motion is known."""
    return config.engine.max_births_per_keyframe * (SEARCH_BIRTHS_FACTOR if wide else 1)


def to_cut(detections: list[Detection], masks: Mapping[int, np.ndarray], config: Config, wide: bool) -> list[int]:
    """The detections (indices) that will likely start tracks, judged on the frame they were made
    on, for a worker to cut ahead: those left over when each track's ``(h, w) bool`` mask box in
    ``masks`` takes the detection it overlaps most (greedy, one each, above the association
    gate); strong enough and capped as ``Candidates.ground`` does."""
    keep = usable(detections, config)
    free = set(keep)
    boxes = [b for b in (mask_box(m) for m in masks.values()) if b is not None]
    if boxes and keep:
        overlap = iou_matrix(np.array([detections[i].box for i in keep], float), np.array(boxes, float))
        taken: set[int] = set()
        for d, t in zip(*np.unravel_index(np.argsort(-overlap, axis=None), overlap.shape), strict=True):
            if overlap[d, t] < config.tracking.iou_gate:
                break
            if keep[d] in free and t not in taken:
                free.discard(keep[d])
                taken.add(int(t))
    return birth_order(detections, sorted(free), config, wide)[:births_cap(config, wide)]
