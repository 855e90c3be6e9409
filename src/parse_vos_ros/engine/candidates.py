"""The candidate tracks: carried by ego-motion, grounded by keyframe detections, merged, expired, pruned.

Every track that leaves goes through ``Candidates.remove``, which drops it from the store, the
segmenter and the frame's masks at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from parse_vos_ros.config import Config
from parse_vos_ros.engine.births import SUPPRESS_IOU, PrunedBox, birth_order, births_cap, usable
from parse_vos_ros.engine.carry import TracksThen, followed_box, tracks_on
from parse_vos_ros.geometry import box_iou, iou_matrix, is_one_of, mask_box, mask_iou, mask_share_inside
from parse_vos_ros.grounding.association import associate
from parse_vos_ros.grounding.word_classes import same_kind
from parse_vos_ros.tracking.store import HistoryRecorder, TrackStore
from parse_vos_ros.types import Detection, FrameContext, from_cue, named_class

LOG = logging.getLogger(__name__)

MERGE_IOU = 0.7  # two tracks whose masks overlap this much are the same object
MERGE_BOX_IOU = 0.8 * MERGE_IOU  # box IoU above which the masks of two tracks are compared
PRUNE_AFTER_S = 1.0  # a track is judged (and may be pruned) only after this much history
RECUT_IOU = 0.85  # a track started without motion is cut again unless its next box agrees this much
MIN_CROP_SIDE_PX = 4  # keyframe crops smaller than this on a side are not kept


@dataclass(frozen=True)
class Grounding:
    """What a keyframe's detections did to the tracks."""

    born: list[int] = field(default_factory=list)  # ids of the tracks started
    boxes: dict[int, np.ndarray] = field(default_factory=dict)  # (4,) xyxy detection box per matched or started track
    recut: list[int] = field(default_factory=list)  # ids of older tracks whose mask was cut again from their box

    @property
    def fresh(self) -> tuple[int, ...]:
        """The tracks whose mask is a cut of a box from this keyframe: those cut again first
        (their cut replaced a mask that had held), then the new ones."""
        return (*self.recut, *self.born)


def detected_as(source: str, phrase: str) -> str:
    """What a detection was: the class its detector named last in ``source`` ("yolox:dog" ->
    dog, "yolox:dog+imagenet:beagle" -> beagle), else the ``phrase`` it was found for (a
    weight-free cue, "cue:motion", names no class: a track grounded for the idle phrase
    "object" by cues alone is of any kind, as the cues would find it for any phrase)."""
    return named_class(source) or phrase


def mask_boxes(masks: Mapping[int, np.ndarray]) -> dict[int, np.ndarray | None]:
    """The ``(4,)`` xyxy box of every ``(h, w) bool`` mask, None for an empty one."""
    return {tid: mask_box(mask) for tid, mask in masks.items()}


class Candidates:
    """The tracks of the current stream and the segmenter objects that carry their masks.

    Args:
        config: the validated configuration.
        store: the bounded track window.
        segmenter: the mask propagation backend (``Segmenter``).

    Attributes:
        suppressed: boxes of pruned tracks, followed at constant velocity until they expire.
        motionless: tracks started on a frame without a previous one (no motion cue, no motion
            seed): the next frame grounds again and starts them afresh from their detection there.
        provisional: candidates of a new command before its first keyframe (``regrounded``).
        births, pruned: counters since construction.
    """

    def __init__(self, config: Config, store: TrackStore, segmenter) -> None:
        self.config = config
        self.store = store
        self.segmenter = segmenter
        self.births = 0
        self.pruned = 0
        self.reset()

    def reset(self) -> None:
        """Forget every track (the store and the segmenter too)."""
        self.store.clear()
        self.segmenter.reset()
        self.suppressed: list[PrunedBox] = []
        self.motionless: set[int] = set()
        self.provisional: set[int] = set()

    def regrounded(self, phrases: Sequence[str]) -> None:
        """A new command of candidate ``phrases``: tracks keep their history but must be grounded
        again by them. A track detected as the same kind of thing as one of them (``same_kind``
        of ``detected_as``: the same noun, or a shared COCO class) stays a candidate until the
        command's first keyframe is applied, so the command is answered from the window at once;
        that keyframe keeps it only if one of its detections matches it. Scores start over."""
        self.provisional = set()
        for tid, info in self.store.info.items():
            info.candidate = any(same_kind(detected_as(info.source, info.phrase), p) for p in phrases)
            info.ruled_out = False  # a thing the old phrase could not be may be the new one's
            if info.candidate:
                self.provisional.add(tid)
            info.score_sum, info.detections, info.keyframes = 0.0, 0, 0  # scores were for other phrases
        self.suppressed = []

    def carry(self, affine: np.ndarray, stamp: float) -> None:
        """Move every stored box into the new frame's pixels by the ``(2, 3)`` camera motion."""
        self.store.apply_ego(affine)
        self.suppressed = [p.moved(affine, stamp) for p in self.suppressed if p.expiry >= stamp]

    def propagate(self, frame: FrameContext) -> dict[int, np.ndarray]:
        """Every track's mask on ``frame`` by the segmenter: ``{track_id: (h, w) bool}``. Without
        tracks the segmenter runs only while it awaits cuts made in the worker (it keeps flows)."""
        active = len(self.store) or getattr(self.segmenter, "awaiting_cuts", False)
        return self.checked(self.segmenter.propagate(frame) if active else {}, frame.gray.shape)

    def checked(self, masks: Mapping[int, np.ndarray], shape: tuple[int, ...]) -> dict[int, np.ndarray]:
        """Masks of live tracks as ``(h, w) bool`` at the working resolution, whatever the backend gave."""
        out = {}
        for tid, mask in masks.items():
            if tid not in self.store.info:
                continue
            if mask.shape != shape:
                # A backend that answers at another resolution must not break the frame loop.
                LOG.debug("segmenter mask %s for a %s frame; resizing", mask.shape, shape)
                mask = cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
            out[tid] = mask.astype(bool, copy=False)
        return out

    def ground(
        self, frame: FrameContext, masks: dict[int, np.ndarray], detections: list[Detection], *,
        wide: bool, recorder: HistoryRecorder | None, then: TracksThen | None = None,
        cuts: Mapping[int, object] | None = None,
    ) -> Grounding:
        """Associate keyframe detections with tracks; start and re-anchor tracks (``masks`` updated).

        ``wide``: nothing is told apart yet, so more detections may start tracks
        (``SEARCH_BIRTHS_FACTOR``); ``recorder``: the offline history, told of tracks cut again;
        ``then``: the detections were made on an earlier frame (boxes already moved to ``frame``):
        they are associated with the tracks as they were on that frame, every live track
        (``tracks_on`` with the store's ids). Default: on ``frame``. ``cuts``: the segmenter's cuts
        of some detections (by index in ``detections``) made on their frame: a track they start
        begins with it (the segmenter's ``start_objects``) instead of a cut of its box.
        """
        boxes_of: dict[str, list[np.ndarray]] = {}
        for d in detections:
            if d.rules_out:
                boxes_of.setdefault(d.phrase, []).append(d.box)
        ruled = {phrase: np.array(boxes, float) for phrase, boxes in boxes_of.items()}
        keep = usable(detections, self.config)
        cut_of = {k: cuts[i] for k, i in enumerate(keep) if cuts and i in cuts}
        detections = [detections[i] for i in keep]
        self.store.count_keyframe(self.store.ids)
        if then is None:
            then = tracks_on(frame, masks, self.store.ids)
        ids, current, track_masks = then.ids, then.current, then.masks
        predicted = self.store.predict(ids, then.stamp)
        det_boxes = np.array([d.box for d in detections], float).reshape(-1, 4)
        det_masks = [d.mask if d.mask is not None and d.mask.shape == frame.gray.shape else None for d in detections]
        result = associate(predicted, det_boxes, self.config.tracking.iou_gate, current, track_masks, det_masks)
        anchors: dict[int, np.ndarray] = {}
        # The cuts are made on ``frame``, whatever frame the detections come from: with a previous
        # frame, motion seeds them.
        moving = frame.prev_gray is not None
        out = Grounding()
        late = then.stamp != frame.stamp
        for ti, di, _ in result.matches:
            tid, det = ids[ti], detections[di]
            prop = current[ti]
            out.boxes[tid] = det.box
            self.store.add_detection(tid, det.phrase, det.score, frame.stamp, det.source)
            self._keep_box(tid, frame.stamp, det)
            # A track not visible on the detections' frame agrees with no box (-1 is below every
            # threshold); both boxes are of that frame.
            overlap = -1.0 if np.isnan(prop[0]) else box_iou(prop, det.box)
            recut = moving and tid in self.motionless and overlap < RECUT_IOU
            if recut:
                # Started without motion, a box on a still image was cut by colour alone (a black
                # swan together with dark water): unless the new box agrees with that cut, cut it
                # again now that motion can seed the cut.
                self.segmenter.remove_objects([tid])
                if recorder is not None:
                    recorder.drop(tid)  # offline: backfilled from the new cut instead
            if recut or overlap < self.config.engine.reanchor_iou:
                # Where the detection is now: a late one has moved on with its track since its
                # frame, so a cut from its box is made where the object is, not was.
                now = mask_box(masks[tid]) if late and tid in masks else None
                anchors[tid] = followed_box(det.box, prop, now)
                out.recut.append(tid)
        if moving:
            self.motionless.clear()
        for tid in self.provisional - set(out.boxes):  # kept for the command's first keyframe only
            if tid in self.store.info:
                self.store.info[tid].candidate = False
        self.provisional = set()
        started: dict[int, object] = {}
        for di in self._births(detections, result.unmatched_detections, wide):
            det = detections[di]
            tid = self.store.new_track(det.phrase, det.box, det.score, frame.stamp, det.source)
            if tid is None:
                break  # all slots taken: the weakest detections are dropped (they come last)
            self._keep_box(tid, frame.stamp, det)
            if di in cut_of:
                started[tid] = cut_of[di]
            else:
                anchors[tid] = det.box
            out.boxes[tid] = det.box
            out.born.append(tid)
            if not moving:
                self.motionless.add(tid)
            self.births += 1
        begun = self.segmenter.start_objects(frame, started) if started else {}
        masks.update(self.checked(begun, frame.gray.shape))
        # A cut the segmenter could not start from: its box is cut instead.
        anchors.update({tid: out.boxes[tid] for tid in started if tid not in begun})
        if anchors:
            masks.update(self.checked(self.segmenter.add_objects(frame, anchors), frame.gray.shape))
        if ruled:
            self._rule_out(masks, ruled)  # every track, those just started as they were cut
        return out

    def _rule_out(self, masks: Mapping[int, np.ndarray], ruled: Mapping[str, np.ndarray]) -> None:
        """Tracks of a weight-free cue whose ``(h, w) bool`` mask is one of the ``(M, 4)`` xyxy boxes
        ``ruled`` for its phrase (a thing the phrase cannot be, ``Detection.rules_out``) or a part
        of them (``geometry.is_one_of``, its pixels inside them) are no candidates: the cue found a
        person moving beside "the pillow". A cue finding it again on a later keyframe, where YOLOX is less
        sure of the person, does not make it one again (``TrackInfo.ruled_out``); a model's
        detection of the phrase does. Left so, it expires."""
        for tid, mask in masks.items():
            info = self.store.info.get(tid)
            if info is None or not info.candidate or not from_cue(info.source) or info.phrase not in ruled:
                continue  # a track a model grounds (a cup YOLOX boxes in a person's hand) stays
            box, others = mask_box(mask), ruled[info.phrase]
            if box is not None and is_one_of(box, others, inside=mask_share_inside(mask, others)):
                info.candidate, info.ruled_out = False, True
                LOG.debug("track %d ruled out: it is a thing its phrase cannot be", tid)

    def _keep_box(self, tid: int, stamp: float, det: Detection) -> None:
        """Keep the box of a detection that names a class, which boxes the whole object each time
        (the size "toward / away" is read on); a weight-free cue's box covers what the cue found
        (a colour region, a salient part), not the same extent of the object each time."""
        if named_class(det.source):
            self.store.add_detected_box(tid, stamp, det.box)

    def _births(self, detections: list[Detection], unmatched: list[int], wide: bool) -> list[int]:
        """The unmatched detections (indices) that start tracks: strong enough, not just pruned,
        best first, capped (``birth_order``)."""
        chosen = birth_order(detections, unmatched, self.config, wide)
        if self.suppressed and chosen:
            blocked = iou_matrix(np.array([detections[i].box for i in chosen]),
                                 np.array([p.box for p in self.suppressed]))
            chosen = [i for i, row in zip(chosen, blocked, strict=True) if row.max() < SUPPRESS_IOU]
        return chosen[:births_cap(self.config, wide)]

    def merge(self, masks: dict[int, np.ndarray], boxes: Mapping[int, np.ndarray | None]) -> None:
        """Remove the younger of two tracks whose masks overlap by more than ``MERGE_IOU``: two
        tracks can converge onto one object between keyframes (drift, re-anchoring). ``boxes``:
        ``mask_boxes(masks)``."""
        ids = [tid for tid in masks if boxes[tid] is not None]
        if len(ids) < 2:
            return
        box_rows = np.array([boxes[t] for t in ids])
        close = np.argwhere(np.triu(iou_matrix(box_rows, box_rows) > MERGE_BOX_IOU, k=1))
        dead: set[int] = set()
        for i, j in close.tolist():
            a, b = ids[i], ids[j]
            if a in dead or b in dead:
                continue
            if mask_iou(masks[a], masks[b]) > MERGE_IOU:
                old, young = (a, b) if a < b else (b, a)
                kept, gone = self.store.info[old], self.store.info[young]
                # One object: ruled out if either was (a cue's new track on a person ruled out before).
                kept.ruled_out |= gone.ruled_out
                kept.candidate = (kept.candidate or gone.candidate) and not kept.ruled_out
                dead.add(young)
        self.remove(dead, masks)

    def observe(self, stamp: float, masks: Mapping[int, np.ndarray], boxes: Mapping[int, np.ndarray | None]) -> None:
        """Record each track's box and area on this frame in the store (``boxes``: ``mask_boxes(masks)``)."""
        observations = {}
        for tid, mask in masks.items():
            box = boxes[tid]
            if box is not None:
                observations[tid] = (box, float(np.count_nonzero(mask)))
        self.store.update(stamp, observations, self.config.tracking.min_mask_area_px)

    def expire(self, stamp: float, masks: dict[int, np.ndarray], command_stamp: float | None) -> None:
        """Death: unseen for ``lost_after_s``, or not grounded by the command (set at
        ``command_stamp``, None without one) within that time."""
        lost_after = self.config.tracking.lost_after_s
        dead = [
            tid
            for tid, info in self.store.info.items()
            if stamp - info.last_seen > lost_after
            or (not info.candidate and command_stamp is not None
                and stamp - max(command_stamp, info.born) > lost_after)
        ]
        self.remove(dead, masks)

    def prune(self, scores: Mapping[int, float], selected: tuple[int, ...], stamp: float,
              masks: dict[int, np.ndarray]) -> None:
        """Remove unselected tracks that clearly do not fit the command (after ``PRUNE_AFTER_S``)."""
        ratio = self.config.engine.prune_ratio
        if ratio <= 0 or not selected:
            return
        best = max(scores.get(t, 0.0) for t in selected)
        dead = [
            tid
            for tid, sc in scores.items()
            if tid not in selected
            and tid in self.store.info
            and stamp - self.store.info[tid].born >= PRUNE_AFTER_S
            and sc < ratio * best
        ]
        expiry = stamp + self.config.tracking.lost_after_s
        self.suppressed.extend(
            PrunedBox(self.store.info[t].box.copy(), self.store.info[t].velocity.copy(), stamp, expiry) for t in dead
        )
        self.pruned += len(dead)
        self.remove(dead, masks)

    def remove(self, ids: Iterable[int], masks: dict[int, np.ndarray]) -> None:
        """Drop ``ids`` from the store, the segmenter and ``masks``."""
        ids = list(ids)
        if not ids:
            return
        self.store.remove(ids)
        self.segmenter.remove_objects(ids)
        for tid in ids:
            masks.pop(tid, None)

    def keep_crops(self, image: np.ndarray, stamp: float) -> None:
        """Store each visible candidate's ``(h, w, 3)`` crop of the working ``image`` (keyframes)."""
        h, w = image.shape[:2]
        for tid, info in self.store.info.items():
            if info.area <= 0 or not info.candidate:
                continue
            x0, y0, x1, y1 = np.round(info.box).astype(int)
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
            if x1 - x0 >= MIN_CROP_SIDE_PX and y1 - y0 >= MIN_CROP_SIDE_PX:
                self.store.add_crop(tid, stamp, image[y0:y1, x0:x1])
