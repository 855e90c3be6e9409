"""Weight-free grounding: candidate boxes for noun phrases from classical cues.

Cues (see ``cues.py``), chosen per phrase by ``vocabulary.analyse_phrase``:
- motion the camera does not explain (dense flow minus a robust camera affine, seeded with the
  engine's ego-motion) for every phrase, since referred objects in video usually move;
- the HOG people detector for person words;
- colour regions for colour words, which also re-rank every other candidate by colour share; a
  colour the referent wears ("the kid in a black shirt", ``PhraseCues.worn``) only re-ranks, softly
  (a shirt is no referent);
- appearance saliency (spectral residual + contrast to the border) as the generic fallback, so any
  noun yields candidates even on a static scene.

State: the detector remembers the working-size grey image of its last call (one keyframe back),
for a long-baseline motion cue; everything else comes from ``FrameContext``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from parse_vos_ros.config import Config
from parse_vos_ros.geometry import nms, resize_to_width
from parse_vos_ros.grounding import cues
from parse_vos_ros.grounding.vocabulary import analyse_phrase
from parse_vos_ros.types import CUE_PATH, Detection, FrameContext

# How much each cue's score counts when candidates from several cues compete for one phrase:
# a detector built for the class beats motion, motion beats appearance-only saliency.
_W_PERSON, _W_MOTION, _W_COLOUR, _W_SALIENCY = 1.0, 0.8, 0.7, 0.35
_LONG_BASELINE_TRUST = 0.5
_OBJECTNESS_WEIGHT = 0.5  # share of a candidate's score that its box's mean objectness decides
_SCENE_SHARE = 0.95  # a box covering this share of the frame scores 0 (see ``detect``)
_SALIENT_OBJECTNESS = 0.7  # appearance saliency counts this much against independent motion


@dataclass(frozen=True)
class DetectorParams:
    """Tuning of the embedded detector (see ``GroundingConfig`` for units and defaults)."""

    width: int = 256
    hog_width: int = 480
    motion_min_px: float = 0.5
    min_area_frac: float = 0.002
    max_detections: int = 16
    nms_iou: float = 0.6
    max_baseline_frames: int = 30


class EmbeddedDetector:
    """Motion / HOG / colour / saliency candidates (implements ``grounding.base.Detector``)."""

    def __init__(self, params: DetectorParams | None = None) -> None:
        self.params = params or DetectorParams()
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._people = cues.PeopleDetector()
        self._last: tuple[int, np.ndarray] | None = None  # (frame index, (h, w) uint8 grey) of the last call

    @classmethod
    def from_config(cls, config: Config) -> EmbeddedDetector:
        """Build from ``config.grounding`` (``embedded_*`` keys and ``max_detections``)."""
        g = config.grounding
        return cls(
            DetectorParams(
                width=g.embedded_width,
                hog_width=g.embedded_hog_width,
                motion_min_px=g.embedded_motion_min_px,
                min_area_frac=g.embedded_min_area_frac,
                max_detections=g.max_detections,
            )
        )

    def reset(self) -> None:
        """Forget the long-baseline motion reference (new stream, engine reset)."""
        self._last = None

    def detect(self, frame: FrameContext, phrases: Sequence[str]) -> list[Detection]:
        """Detections for ``phrases`` on ``frame``, best first, boxes in pixel xyxy of ``frame.image``.

        Raises ``ValueError`` for an image that is not ``(H, W, 3) uint8`` or an empty phrase list.
        """
        image = frame.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"EmbeddedDetector expects (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        if not phrases:
            raise ValueError("EmbeddedDetector.detect needs at least one phrase")
        p = self.params
        full_h, full_w = image.shape[:2]
        rgb, s = self.working_image(image)  # s: working px per image px
        h, w = rgb.shape[:2]
        min_area = max(4, int(p.min_area_frac * w * h))
        merge_px = max(2, w // 40)

        cur = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        motion_parts = []
        moving: np.ndarray | None = None  # (h, w) float32 in [0, 1]: motion the camera does not explain
        if frame.prev_gray is not None and frame.prev_gray.shape == (full_h, full_w):
            prev = cv2.resize(frame.prev_gray, (w, h), interpolation=cv2.INTER_AREA)
            ego = np.asarray(frame.ego_affine, np.float64).reshape(2, 3).copy()
            ego[:, 2] *= s  # the linear part is scale-free, the translation is in pixels
            residual = cues.motion_residual(self._flow, prev, cur, ego)
            motion_parts.append(cues.motion_boxes(residual, p.motion_min_px, min_area, merge_px))
            peak = max(float(np.percentile(residual, 99.5)), p.motion_min_px)
            moving = np.clip(residual / peak, 0.0, 1.0)
        last = self._last
        if last is not None and last[1].shape == cur.shape and 1 < frame.index - last[0] <= p.max_baseline_frames:
            # Slow objects barely move in one frame; over the keyframe interval they do. The
            # camera motion over that baseline is unknown here, so the robust fit starts from rest.
            residual = cues.motion_residual(self._flow, last[1], cur, np.eye(2, 3))
            boxes, scores = cues.motion_boxes(residual, p.motion_min_px * 2, min_area, merge_px)
            # Flow over a long baseline breaks down when the camera moves fast: trust it half.
            motion_parts.append((boxes, scores * _LONG_BASELINE_TRUST))
        self._last = (frame.index, cur)
        motion = (np.concatenate([b for b, _ in motion_parts]), np.concatenate([c for _, c in motion_parts])) \
            if motion_parts else cues.empty_boxes()
        salient = cues.saliency_map(rgb)
        saliency = cues.saliency_boxes(salient, min_area, merge_px)
        # Objectness of any box, whichever cue proposed it: a region that moves on its own or
        # stands out from the image. A colour or person box on still, plain background is weaker.
        objectness = salient if moving is None else np.maximum(_SALIENT_OBJECTNESS * salient, moving)
        hsv = None
        people: cues.Boxes | None = None

        out: list[Detection] = []
        for phrase in phrases:
            info = analyse_phrase(phrase)
            parts = [(motion, _W_MOTION, "motion"), (saliency, _W_SALIENCY, "saliency")]
            if info.person:
                if people is None:
                    people = self._detect_people(image, s)
                parts.append((people, _W_PERSON, "person"))
            boxes = np.concatenate([b for (b, _), _, _ in parts])
            scores = np.concatenate([sc * wt for (_, sc), wt, _ in parts])
            cue = np.concatenate([np.full(len(sc), name) for (_, sc), _, name in parts])  # (N,) str: which cue
            if (info.colours or info.part_colours) and hsv is None:
                hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
            if info.colours and info.worn and len(boxes):
                # What the referent wears re-ranks its boxes; a region of that colour (a shirt) is none.
                scores = scores * cues.colour_factors(hsv, boxes, info.colours, (), worn=True)
            elif info.colours:
                colour = cues.colours_mask(hsv, info.colours)
                scores = scores * cues.colour_fit(colour, boxes)
                cb, cs = cues.colour_boxes(colour, cues.colour_purity(hsv, info.colours), min_area, merge_px)
                boxes, scores = np.concatenate([boxes, cb]), np.concatenate([scores, cs * _W_COLOUR])
                cue = np.concatenate([cue, np.full(len(cs), "colour")])
            if info.part_colours and len(boxes):
                scores = scores * cues.colour_factors(hsv, boxes, (), info.part_colours)
            if len(boxes) == 0:
                continue
            scores = scores * (1.0 - _OBJECTNESS_WEIGHT + _OBJECTNESS_WEIGHT * cues.box_mean(objectness, boxes))
            # A box over most of the frame is the scene (a colour or saliency cue spilling over
            # the background), not an object in it: fade out from half the frame to all of it.
            frame_share = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / float(w * h)
            scores = scores * np.clip((_SCENE_SHARE - frame_share) / (_SCENE_SHARE - 0.5), 0.0, 1.0)
            keep = nms(boxes, scores, p.nms_iou)
            for i in keep:
                box = np.clip(boxes[i] / s, 0, [full_w, full_h, full_w, full_h])
                if box[2] - box[0] >= 1 and box[3] - box[1] >= 1:
                    out.append(Detection(box=box, score=float(np.clip(scores[i], 0, 1)), phrase=phrase,
                                         source=f"{CUE_PATH}:{cue[i]}"))
        out.sort(key=lambda d: -d.score)
        return out[: p.max_detections]

    def working_image(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """``(h, w, C)`` ``image`` at the cues' working width (``image`` itself when no wider) and the
        scale (working px per image px)."""
        small = resize_to_width(image, self.params.width)
        return small, small.shape[1] / image.shape[1]

    def _detect_people(self, image: np.ndarray, s: float) -> cues.Boxes:
        """HOG people boxes in working-size pixels (HOG runs at ``hog_width``, its own resolution)."""
        small = resize_to_width(image, self.params.hog_width)
        hs = small.shape[1] / image.shape[1]
        boxes, scores = self._people.detect(small)
        return boxes * (s / hs), scores
