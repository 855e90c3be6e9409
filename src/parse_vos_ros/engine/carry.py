"""Carrying keyframe work of an earlier frame t to the present frame: the camera motion since t,
detections and masks of frame t moved by it, and the tracks as they were on t
(``keyframes.py``, threaded)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import cv2
import numpy as np

from parse_vos_ros.context.ego_motion import IDENTITY
from parse_vos_ros.geometry import mask_box
from parse_vos_ros.tracking.store import affine_boxes
from parse_vos_ros.types import Detection, FrameContext

MOTION_FRAMES = 64  # camera motion kept for this many frames: older keyframe work is dropped


class MotionLog:
    """The camera motion of the last ``MOTION_FRAMES`` frames, to carry frame-t work to now."""

    def __init__(self) -> None:
        self._affines: deque[tuple[int, np.ndarray]] = deque(maxlen=MOTION_FRAMES)

    def clear(self) -> None:
        """A new stream."""
        self._affines.clear()

    def add(self, index: int, affine: np.ndarray) -> None:
        """Frame ``index`` moved the camera by ``affine`` ``(2, 3)`` from the frame before."""
        self._affines.append((index, affine))

    def since(self, index: int) -> np.ndarray | None:
        """The ``(2, 3)`` motion from frame ``index`` to the newest one; None when no longer known."""
        if not self._affines or index < self._affines[0][0] - 1:
            return None
        total = np.vstack([IDENTITY, [0.0, 0.0, 1.0]])
        for k, affine in self._affines:
            if k > index:
                total = np.vstack([affine, [0.0, 0.0, 1.0]]) @ total
        return total[:2]


def carried_detections(detections: list[Detection], affine: np.ndarray) -> list[Detection]:
    """Detections of frame t with their boxes moved to now by the camera motion ``(2, 3)`` (their
    masks stay on frame t, where the association compares them with the tracks' frame-t masks)."""
    return [replace(d, box=affine_boxes(affine, np.asarray(d.box, float))) for d in detections]


def warped(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """An ``(h, w) bool`` mask moved by the ``(2, 3)`` affine ``affine``."""
    h, w = mask.shape
    return cv2.warpAffine(mask.view(np.uint8), affine, (w, h), flags=cv2.INTER_NEAREST).astype(bool)


def followed_box(box: np.ndarray, then: np.ndarray, now: np.ndarray | None) -> np.ndarray:
    """A detection ``box`` of frame t (``(4,)`` xyxy, moved to now by the camera motion) moved on
    by its track's own motion since: the shift of the track's mask box from ``then`` (on frame t,
    moved by the camera motion; NaN when not visible) to ``now`` (None when not visible). The
    box as it was when either is unknown."""
    if now is None or np.isnan(then[0]):
        return box
    shift = (np.asarray(now[:2]) + now[2:] - then[:2] - then[2:]) / 2.0
    return np.asarray(box, float) + np.tile(shift, 2)


# (track id, mask of frame t, t, the track's propagated mask on t) -> the mask now, or None
FlowCarry = Callable[[int, np.ndarray, int, np.ndarray], "np.ndarray | None"]


def carried_masks(found: Mapping[int, np.ndarray], then: Mapping[int, np.ndarray], now: Mapping[int, np.ndarray],
                  affine: np.ndarray, since: int, flow_carry: FlowCarry | None = None) -> dict[int, np.ndarray]:
    """Keyframe masks ``found`` of frame ``since`` (``(h, w) bool``) moved to now. Through the
    segmenter's dense flows of the frames between when it keeps them (``flow_carry``, e.g.
    ``EmbeddedSegmenter.carry``); else by the camera motion ``(2, 3)``, then by the object's own
    motion, the shift of its propagated mask's centroid from ``then`` (frame t, carried by the
    camera motion) to ``now``. Tracks no longer visible are left out."""
    out = {}
    for tid, mask in found.items():
        if tid not in now or tid not in then or not now[tid].any() or not then[tid].any():
            continue
        moved_by_flow = flow_carry(tid, mask, since, then[tid]) if flow_carry is not None else None
        if moved_by_flow is not None:
            out[tid] = moved_by_flow
            continue
        ys, xs = np.nonzero(then[tid])
        before = affine[:, :2] @ np.array([xs.mean(), ys.mean()]) + affine[:, 2]
        ys, xs = np.nonzero(now[tid])
        moved = affine.copy()
        moved[:, 2] += np.array([xs.mean(), ys.mean()]) - before
        out[tid] = warped(mask, moved)
    return out


@dataclass(frozen=True)
class TracksThen:
    """The tracks as they were on the frame a keyframe's detections were made on."""

    ids: list[int]
    current: np.ndarray  # (N, 4) xyxy mask boxes in the present frame's pixels, NaN rows when not visible
    masks: list[np.ndarray | None]  # (h, w) bool masks on the detections' frame, None when not visible
    stamp: float  # the detections' frame (s)


def tracks_on(frame: FrameContext, masks: Mapping[int, np.ndarray], ids: list[int],
              affine: np.ndarray | None = None) -> TracksThen:
    """The tracks ``ids`` as they are on ``frame`` with their ``(h, w) bool`` ``masks``; their mask
    boxes moved to the present frame by the camera motion ``affine`` ``(2, 3)`` (None: ``frame`` is
    the present one)."""
    current = np.full((len(ids), 4), np.nan)
    for i, tid in enumerate(ids):
        box = mask_box(masks[tid]) if tid in masks else None
        if box is not None:
            current[i] = box if affine is None else affine_boxes(affine, box)
    return TracksThen(ids, current, [masks.get(tid) for tid in ids], frame.stamp)
