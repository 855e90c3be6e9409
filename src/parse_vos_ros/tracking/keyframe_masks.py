"""Keyframe target masks: which tracks a segmentation model re-segments on a keyframe, and how.

Between keyframes the segmenter carries every mask by propagation, which drifts. On a keyframe
``KeyframeMasks.masks`` runs DeepLab (``tracking/deeplab.py``) on the crops of a bounded number of
tracks, the selected targets first, then the tracks started on this keyframe, and returns the
masks the segmenter is re-anchored to (``EmbeddedSegmenter.set_masks``). The crop is the track's
mask box joined with its detection box of this keyframe when it has one (a detector's box of a
part, or a mask that lost a part, still gives a crop around the whole). Only the parts of the
model's mask that touch the track's current mask are kept: a neighbour of another PASCAL class in
the crop does not join the target. How far the model's mask may differ from the propagated one
depends on whether the model knows what the command names (``set_phrases``: the head nouns'
COCO classes, through WordNet, that are PASCAL classes too):
- it does, and most of the mask is labelled as one of those classes: the model segmented the
  named thing, and its mask replaces the propagated one when the two overlap at least
  ``tracking.keyframe_mask_known_min_iou`` (0: touching is enough). The propagated mask is the
  one that drifts (it leaks into the water around a swan, loses a dancer's arm); the model sees
  the object afresh on every keyframe.
- otherwise (a kart, a ball, a robot: outside the model's 20 classes, or a mask of another class
  than the named one) only at ``tracking.keyframe_mask_min_iou``: such an object often gets a
  fragment labelled (a ball's highlight as a "bottle", the people on a kart as "person"), and a
  fragment must not replace a good propagated mask.
Where the model finds nothing, the propagated mask stays.

A rider and what they ride are one object (``tracking.keyframe_mask_join_riders``; DAVIS-2016's
convention, and the body a robot following a cyclist must keep clear of): when a selected target's
mask is mostly a person and touches a bicycle, motorbike or horse (or the other way round), and
the person is over it (``riding``), the mount joins the mask. A target's crop is its own box, so
a mount usually leaves it; the mount's part in the crop, cut off at the crop's edge, is segmented
again from a crop grown around the two (``MOUNT_CROP_GROWTH``): one more model call, only on
keyframes where a mount leaves the crop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from parse_vos_ros.backends import FALLBACK_VALUES, Fallback, record_fallback
from parse_vos_ros.config import Config
from parse_vos_ros.geometry import mask_box, mask_iou
from parse_vos_ros.grounding.word_classes import classes_for
from parse_vos_ros.grounding.yolox import COCO_CLASSES
from parse_vos_ros.tracking.deeplab import BACKGROUND, PASCAL_KINDS, DeepLabLoadError, DeepLabMasker, crop_box

SUPPORT_DILATE_PX = 3  # the model's components touching the track's mask grown by this many pixels are kept
KNOWN_SHARE = 0.5  # a mask is of the named class when at least this share of its pixels carries that class's label
RIDER = "person"  # PASCAL VOC's rider class, and the classes it rides (see the module docstring)
RIDDEN = ("bicycle", "motorbike", "horse")
MOUNT_CROP_GROWTH = 1.0  # a mount cut off at the crop's edge: the crop around both grows by this fraction in all
EDGE_PX = 2  # a mask within this many working pixels of a crop's edge is cut off by it
# The model's labels of a broad group (grounding's "animal", "vehicle", "person").
GROUP_LABELS = {"animal": tuple(PASCAL_KINDS[0]), "vehicle": tuple(PASCAL_KINDS[1]), "person": ("person",)}


def supported(candidate: np.ndarray, prior: np.ndarray) -> np.ndarray | None:
    """The connected components of ``candidate`` that touch ``prior`` (both ``(h, w) bool``).

    None when none does: the model found another object, not this track's.
    """
    k = 2 * SUPPORT_DILATE_PX + 1
    near = cv2.dilate(prior.view(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    n, labels = cv2.connectedComponents(candidate.view(np.uint8), connectivity=8)
    keep = np.unique(labels[near & candidate])
    keep = keep[keep > 0]
    if keep.size == 0:
        return None
    if keep.size == n - 1:
        return candidate
    return np.isin(labels, keep)


def riding(rider: np.ndarray, mount: np.ndarray) -> bool:
    """Whether the ``(h, w) bool`` ``rider`` mask sits on the ``mount`` mask: its horizontal
    centre over the mount (a person beside a bicycle touches it, but does not ride it; a horse
    jumping may raise its head above its rider's, so heights say nothing)."""
    rx = np.nonzero(rider)[1]
    mx = np.nonzero(mount)[1]
    if rx.size == 0 or mx.size == 0:
        return False
    return bool(mx.min() <= rx.mean() <= mx.max())


class KeyframeMasks:
    """Chooses the keyframe crops and segments them (see the module docstring).

    Args:
        masker: the model (``DeepLabMasker``; anything with its ``label_map`` and ``label_ids`` methods).
        max_crops: model calls per keyframe, at most.
        min_iou: the model's mask is taken only when its IoU with the track's mask is at least this.
        known_min_iou: the same for a mask of a class the command names (see the module docstring).
        refresh_frames: between keyframes, the selected targets are segmented again every this
            many frames after they were last segmented (0: on keyframes only).
        join_riders: a selected target's mask takes in its rider or mount (see the module docstring).
        withheld: COCO class indices the command's nouns are not of (``grounding.withheld_classes``).

    Attributes:
        target_labels: the model's label ids of the command's classes (``set_phrases``).
    """

    def __init__(self, masker: DeepLabMasker, max_crops: int, min_iou: float = 0.0,
                 known_min_iou: float | None = None, refresh_frames: int = 0, join_riders: bool = False,
                 withheld: frozenset[int] = frozenset()) -> None:
        self.masker = masker
        self.refresh_frames = refresh_frames
        self.max_crops = max_crops
        self.min_iou = min_iou
        self.known_min_iou = min_iou if known_min_iou is None else known_min_iou
        self.target_labels: frozenset[int] = frozenset()
        self.withheld = withheld
        names = tuple(getattr(masker, "labels", ()))
        self._rider = names.index(RIDER) if join_riders and RIDER in names else None
        ridden = (names.index(n) for n in RIDDEN if n in names and self._rider is not None)
        self._ridden = frozenset(ridden)

    def set_phrases(self, phrases: Sequence[str]) -> None:
        """A new command: its candidate ``phrases`` name the classes whose masks are trusted: their
        COCO classes the model knows, or else the model's labels of the noun's broad group ("the
        camel", "the elephant": any animal; "the kart", "the truck": any vehicle; the model tells
        them apart no better than its kinds)."""
        labels: set[int] = set()
        for phrase in phrases:
            words = classes_for(phrase).without(self.withheld)
            own = self.masker.label_ids(COCO_CLASSES[i] for i in words.coco)
            labels |= own or self.masker.label_ids(n for g in words.groups for n in GROUP_LABELS.get(g, ()))
        # One assignment of an immutable set: a worker thread reading it sees the old or the new one.
        self.target_labels = frozenset(labels)

    @classmethod
    def from_config(cls, config: Config) -> KeyframeMasks | None:
        """From ``tracking.keyframe_mask*``; None when ``keyframe_masks`` is "none".

        Raises:
            DeepLabLoadError: the model cannot be loaded and ``fallback`` is "none" (otherwise the
                engine runs without keyframe masks and the warning says so).
        """
        t = config.tracking
        if t.keyframe_masks == "none":
            return None
        try:
            masker = DeepLabMasker.named(t.keyframe_mask_model, t.keyframe_mask_threads)
        except DeepLabLoadError as exc:
            if config.fallback not in FALLBACK_VALUES:
                raise
            record_fallback(Fallback("keyframe masks", t.keyframe_masks, "none", str(exc)))
            return None
        return cls(masker, t.keyframe_mask_max_crops, t.keyframe_mask_min_iou, t.keyframe_mask_known_min_iou,
                   t.keyframe_mask_refresh_frames, t.keyframe_mask_join_riders,
                   config.grounding.withheld_indices())

    def refresh_due(self, since_masked: int) -> bool:
        """Whether a frame ``since_masked`` frames after the selected targets were last segmented
        (a keyframe or a refresh) segments them again; a refresh that cannot run on the frame it
        falls due (the worker busy) runs on the next one that can."""
        return self.refresh_frames > 0 and since_masked >= self.refresh_frames

    @staticmethod
    def order(selected: Sequence[int], fresh: Sequence[int], masks: Mapping[int, np.ndarray]) -> list[int]:
        """Visible tracks to re-segment, most important first: the selected targets, then the
        ``fresh`` ones (cut from a box on this keyframe, in their order)."""
        out: list[int] = []
        for tid in (*selected, *fresh):
            if tid not in out and tid in masks and masks[tid].any():
                out.append(tid)
        return out

    def masks(
        self,
        image: np.ndarray,
        masks: Mapping[int, np.ndarray],
        selected: Sequence[int],
        fresh: Sequence[int],
        detection_boxes: Mapping[int, np.ndarray],
    ) -> dict[int, np.ndarray]:
        """New masks for at most ``max_crops`` tracks: ``{track_id: (h, w) bool}`` at ``masks``' size
        (the arguments as in ``masks_named``)."""
        return self.masks_named(image, masks, selected, fresh, detection_boxes)[0]

    def masks_named(
        self,
        image: np.ndarray,
        masks: Mapping[int, np.ndarray],
        selected: Sequence[int],
        fresh: Sequence[int],
        detection_boxes: Mapping[int, np.ndarray],
    ) -> tuple[dict[int, np.ndarray], frozenset[int]]:
        """New masks for at most ``max_crops`` tracks (``{track_id: (h, w) bool}`` at ``masks``'
        size), and the ids whose mask is of a class the command names (``named``: a later check
        of the mask, after it is carried to another frame, uses the same gate).

        Args:
            image: ``(H, W, 3) uint8`` RGB, the keyframe at any resolution (the camera's gives
                the model the most detail).
            masks: every track's current ``(h, w) bool`` mask at the working resolution.
            selected: the selected target track ids.
            fresh: ids of the tracks cut from a box on this keyframe (``Grounding.fresh``: those
                cut again, then those started), most in need of the model first.
            detection_boxes: ``(4,)`` xyxy working-resolution box of the detection each track
                was matched to or started from on this keyframe.
        """
        chosen = self.order(selected, fresh, masks)[: self.max_crops]
        if not chosen:
            return {}, frozenset()
        h, w = next(iter(masks.values())).shape
        scale = np.array([image.shape[1] / w, image.shape[0] / h] * 2)
        out = {}
        named = set()
        for tid in chosen:
            box = mask_box(masks[tid])
            assert box is not None  # order() keeps non-empty masks only
            det = detection_boxes.get(tid)
            if det is not None and np.all(np.isfinite(det)):
                box = np.concatenate([np.minimum(box[:2], det[:2]), np.maximum(box[2:], det[2:])])
            labels = self.masker.label_map(image, box * scale, out_size=(w, h))
            if labels is None:
                continue
            found = supported(labels != BACKGROUND, masks[tid])
            if found is None:
                continue
            partners = self.partners(labels[found]) if tid in selected else frozenset()
            mount = found & np.isin(labels, list(partners)) if partners else None
            body = found if mount is None else found & ~mount
            known = self.named(labels[body])
            found = self.accept(body, masks[tid], known=known)
            if found is None:
                continue
            near = supported(mount, found) if mount is not None and mount.any() else None
            if near is not None:
                # The mount's part in the crop stays, as any label touching the object does; the
                # rest of it joins only when the one rides the other.
                other = self._mount(image, scale, box, found, near, partners)
                rider, ridden = (found, other) if self._rider not in partners else (other, found)
                found = found | (other if riding(rider, ridden) else near)
            out[tid] = found
            if known:
                named.add(tid)
        return out, frozenset(named)

    def partners(self, labels: np.ndarray) -> frozenset[int]:
        """The label ids that join a mask with ``labels`` (its pixels' label ids) as the other half
        of a rider and mount: the ridden classes when most of it is a person, a person when most of
        it is a ridden class, none otherwise (or without ``join_riders``)."""
        if self._rider is None or labels.size == 0:
            return frozenset()
        main = int(np.bincount(labels.ravel()).argmax())
        if main == self._rider:
            return self._ridden
        return frozenset({self._rider}) if main in self._ridden else frozenset()

    def _mount(self, image: np.ndarray, scale: np.ndarray, box: np.ndarray, body: np.ndarray,
               mount: np.ndarray, partners: frozenset[int]) -> np.ndarray:
        """The whole mount (``(h, w) bool``) of a target whose ``body`` mask touches the ``mount``
        part found in the crop of working-resolution ``box``: that part, or, where it is cut off
        at the crop's edge, the mount's components touching ``body`` in a crop grown around both."""
        height, width = image.shape[:2]
        x0, y0, x1, y1 = crop_box(box * scale, width, height)
        # The crop's sides inside the image (a mount at the image's border goes on nowhere), in
        # working pixels: a mount reaching one is cut off by it.
        sides = np.zeros_like(mount)
        if x0 > 0:
            sides[:, : int(x0 / scale[0]) + EDGE_PX] = True
        if y0 > 0:
            sides[: int(y0 / scale[1]) + EDGE_PX] = True
        if x1 < width:
            sides[:, int(x1 / scale[0]) - EDGE_PX:] = True
        if y1 < height:
            sides[int(y1 / scale[1]) - EDGE_PX:] = True
        if not (mount & sides).any():
            return mount
        both = mask_box(body | mount)
        assert both is not None  # body is not empty
        grown = np.asarray(both, float)
        half = 0.5 * MOUNT_CROP_GROWTH * (grown[2:] - grown[:2])
        grown = np.concatenate([grown[:2] - half, grown[2:] + half])
        h, w = body.shape
        labels = self.masker.label_map(image, grown * scale, out_size=(w, h))
        whole = None if labels is None else supported(np.isin(labels, list(partners)), body)
        return mount if whole is None else mount | whole

    def named(self, labels: np.ndarray) -> bool:
        """Whether the model's labels ``labels`` (of a mask's pixels) are mostly of the command's classes."""
        if not self.target_labels or labels.size == 0:
            return False
        return np.isin(labels, list(self.target_labels)).mean() >= KNOWN_SHARE

    def accept(self, found: np.ndarray, prior: np.ndarray, known: bool = False) -> np.ndarray | None:
        """The parts of the model's ``(h, w) bool`` mask ``found`` that touch the track's ``prior``
        mask, when they overlap it at least ``min_iou`` (``known_min_iou`` when ``known``: the
        mask is of a class the command names); None otherwise."""
        found = supported(found, prior)
        gate = self.known_min_iou if known else self.min_iou
        return found if found is not None and mask_iou(found, prior) >= gate else None
