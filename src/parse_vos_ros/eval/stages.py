"""Per-stage scores of one expression: where between detection and selection the J&F is lost.

``StageProbe`` watches an engine while ``parse-vos eval`` runs an expression:
- **detection recall**: on each keyframe, the best-overlapping box the detector returned for the
  command's phrases against the ground-truth object's box (the mask's bounding box); a keyframe
  counts as found when that IoU is >= ``DETECTION_IOU``;
- **best-candidate IoU**: per frame, the mask IoU of the best live candidate track against the
  ground truth: what a perfect choice among the tracks would give (the ceiling of selection);
- **selected IoU**: per frame, the IoU of the mask the engine output (the selected tracks);
  the same number as J, side by side with the ceiling.
Masks are compared at the ground truth's resolution (candidate masks are upscaled as the engine
upscales its output); two empty masks score 1, as in J. The probe needs an engine with
``detector``, ``push_frame`` and ``track_masks`` (``parse_vos_ros.engine.Engine``); other engines
get no stage scores.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from parse_vos_ros.geometry import box_iou, mask_box, mask_iou, upscale_mask
from parse_vos_ros.types import Detection, FrameContext

DETECTION_IOU = 0.5  # a keyframe's target counts as detected at this box IoU (the PASCAL/COCO convention)
STAGE_KEYS = ("detection_recall", "detection_best_iou", "best_candidate_iou", "selected_iou")


class _RecordingDetector:
    """Passes every ``detect`` call to the engine's detector and keeps its boxes per frame index,
    scaled to the frame size the ground truth has."""

    def __init__(self, inner: Any, keyframes: dict[int, tuple[tuple[int, int], list[np.ndarray]]]) -> None:
        self.inner = inner
        self.keyframes = keyframes

    def detect(self, frame: FrameContext, phrases: Sequence[str]) -> list[Detection]:
        detections = self.inner.detect(frame, phrases)
        # A box that only rules tracks out (a person, for "the pillow") is no detection of the phrase.
        boxes = [np.asarray(d.box, float) for d in detections if not d.rules_out]
        self.keyframes[frame.index] = (frame.size, boxes)
        return detections

    def __getattr__(self, name: str) -> Any:  # reset() and anything else the engine asks for
        return getattr(self.inner, name)


class StageProbe:
    """Records what an engine detected and which candidates it had while it runs one expression.

    Use as a context manager around the run; ``scores(gt, masks)`` afterwards. Installs itself
    on the engine instance (its ``detector`` and ``push_frame``) and restores both on exit.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.keyframes: dict[int, tuple[tuple[int, int], list[np.ndarray]]] = {}
        self.best_candidate: list[float] = []  # per frame, filled once the ground truth is known
        self._gt: np.ndarray | None = None
        self._frame = 0
        self._detector: Any = None
        self.overhead_s = 0.0  # seconds spent scoring candidates inside the run (not engine time)

    @staticmethod
    def supports(engine: Any) -> bool:
        """True when ``engine`` exposes what the probe reads."""
        return all(hasattr(engine, name) for name in ("detector", "push_frame", "track_masks"))

    def __enter__(self) -> StageProbe:
        self._detector = self.engine.detector
        self.engine.detector = _RecordingDetector(self._detector, self.keyframes)
        inner_push = self.engine.push_frame

        def push_frame(image: np.ndarray, stamp: float, **kwargs: Any) -> Any:
            result = inner_push(image, stamp, **kwargs)  # depth= and whatever else the engine takes
            self._candidates(self._frame)
            self._frame += 1
            return result

        self.engine.push_frame = push_frame  # an instance attribute: offline runs call it too
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.detector = self._detector
        del self.engine.push_frame  # the class's method again

    def watch(self, gt: np.ndarray) -> None:
        """``(T, H, W) bool`` ground truth of the expression (before the run)."""
        self._gt = gt

    def _candidates(self, t: int) -> None:
        if self._gt is None or t >= len(self._gt):
            return
        start = time.perf_counter()
        gt = self._gt[t]
        h, w = gt.shape
        best = 0.0 if gt.any() else 1.0  # no object: choosing no track is perfect
        for mask in self.engine.track_masks.values():
            full = mask if mask.shape == gt.shape else upscale_mask(mask, (w, h))
            best = max(best, mask_iou(full, gt, empty=1.0))
        self.best_candidate.append(best)
        self.overhead_s += time.perf_counter() - start

    def scores(self, gt: np.ndarray, masks: Sequence[np.ndarray]) -> dict[str, float | int]:
        """The stage scores of the run (see the module docstring); ``masks`` are the output masks."""
        best_ious = []
        for index, (size, boxes) in sorted(self.keyframes.items()):
            if index >= len(gt):
                continue
            target = mask_box(gt[index])
            if target is None:
                continue
            sx, sy = size[0] / gt.shape[2], size[1] / gt.shape[1]
            target = target * np.array([sx, sy, sx, sy])
            best_ious.append(max((box_iou(b, target) for b in boxes), default=0.0))
        selected = [mask_iou(np.asarray(m, bool), g, empty=1.0) for m, g in zip(masks, gt, strict=True)]
        return {
            "keyframes": len(best_ious),
            "detection_recall": float(np.mean([v >= DETECTION_IOU for v in best_ious])) if best_ious else 0.0,
            "detection_best_iou": float(np.mean(best_ious)) if best_ious else 0.0,
            "best_candidate_iou": float(np.mean(self.best_candidate)) if self.best_candidate else 0.0,
            "selected_iou": float(np.mean(selected)) if selected else 0.0,
        }




def mean_stages(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Mean of each stage score over ``rows`` (expressions or sequences) that have it."""
    out: dict[str, float] = {}
    for key in STAGE_KEYS:
        values = [float(r[key]) for r in rows if key in r]
        if values:
            out[key] = float(np.mean(values))
    return out
