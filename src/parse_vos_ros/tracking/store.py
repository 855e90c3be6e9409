"""Bounded candidate-track store: the engine's sliding window.

Every live track shares one ring of samples (one sample per ``sample_period_s``, so the
``max_samples`` slots always span the whole window whatever the frame rate). Arrays are
preallocated at construction, ``(max_tracks, max_samples, ...)``, so memory is fixed however long
the stream runs; per-track keyframe crops are capped too.

Ego-compensated coordinates: on every frame ``apply_ego`` maps all stored boxes with the camera's
inter-frame affine, so stored boxes are always expressed in the pixel frame of the newest frame;
the displacement between two samples is then object motion with camera motion removed.
All pixel values are at the engine's working resolution.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from parse_vos_ros.context.ego_motion import scale_of
from parse_vos_ros.context.occlusion import front_back
from parse_vos_ros.geometry import overlap_matrix
from parse_vos_ros.types import FrameContext, OcclusionFact, Trajectory, from_cue


@dataclass
class TrackInfo:
    """Live state of one track (per slot).

    Attributes:
        track_id: stable id (never reused within a stream).
        phrase: candidate phrase of the detection that started or last matched the track.
        born: stamp of birth (s).
        last_seen: stamp of the last frame where the track was visible (s).
        last_detected: stamp of the last detection matched to the track (s).
        box: ``(4,)`` xyxy of the last visible box, in current-frame (compensated) pixels.
        velocity: ``(2,)`` box-centre velocity in compensated pixels per second.
        area: visible mask area on the last frame (pixels; 0 when not visible).
        score_sum, detections: running sum and count of matched detection scores.
        keyframes: keyframes the track was alive for; one without a matching detection counts as
            a zero score, so a region detected once and never again fades.
        candidate: matched a detection of the current command's phrases.
        ruled_out: was found to be a thing the command's phrase cannot be (``Detection.rules_out``):
            no candidate; a weight-free cue's detection does not make it one again, a model's
            detection does (and clears the mark).
        crops: newest-last ``(stamp, (h, w, 3) uint8)`` keyframe crops, capped.
        source: which detector path named the last matched detection (``Detection.source``).
        last_detection: ``(stamp s, (4,) xyxy box)`` of the last ``add_detected_box``, in the
            pixels of the frame it was applied on.
    """

    track_id: int
    phrase: str
    born: float
    last_seen: float
    last_detected: float
    box: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    area: float = 0.0
    score_sum: float = 0.0
    detections: int = 0
    keyframes: int = 1
    candidate: bool = True
    ruled_out: bool = False
    crops: deque[tuple[float, np.ndarray]] = field(default_factory=deque)
    source: str = ""
    last_detection: tuple[float, np.ndarray] | None = None

    @property
    def score(self) -> float:
        return self.score_sum / max(self.detections, self.keyframes) if self.detections else 0.0


def box_center_size(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(..., 4)`` xyxy -> centres ``(..., 2)`` and sizes ``(..., 2)``."""
    return (boxes[..., :2] + boxes[..., 2:]) / 2.0, boxes[..., 2:] - boxes[..., :2]


def affine_boxes(affine: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Map ``(..., 4)`` xyxy boxes with a ``(2, 3)`` affine: centre mapped, size scaled isotropically."""
    centers, sizes = box_center_size(boxes)
    centers = centers @ affine[:, :2].T + affine[:, 2]
    sizes = sizes * scale_of(affine)
    return np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=-1)


class TrackStore:
    """Tracks and their history within the sliding window, with a hard memory bound.

    Args:
        max_tracks: slots; ``new_track`` returns None when all are taken.
        max_samples: history samples per track (ring length).
        window_s: history older than this (seconds) is dropped.
        max_crops: keyframe crops kept per track.
        crop_side_px: crops are resized so their longer side is at most this.
    """

    def __init__(
        self, max_tracks: int, max_samples: int, window_s: float, max_crops: int = 4, crop_side_px: int = 96
    ) -> None:
        self.max_tracks = max_tracks
        self.max_samples = max_samples
        self.window_s = window_s
        self.max_crops = max_crops
        self.crop_side_px = crop_side_px
        self.sample_period_s = window_s / max_samples
        m, s = max_tracks, max_samples
        self._stamps = np.full(s, -np.inf)
        self._cam = np.zeros((s, 2, 3))  # camera affine accumulated since the previous sample
        self._valid = np.zeros((m, s), bool)
        self._visible = np.zeros((m, s), bool)
        self._boxes = np.zeros((m, s, 4))  # raw image boxes on the sample's own frame
        self._comp = np.zeros((m, s, 4))  # the same boxes in the newest frame's pixels
        self._areas = np.zeros((m, s))
        self._detected = np.full((m, s, 4), np.nan)  # the box of a detection applied since the sample before
        self._head = 0  # next ring slot to write
        self._since_sample = np.eye(3)  # camera motion since the last sample
        self._slots: dict[int, int] = {}  # track id -> slot
        self.info: dict[int, TrackInfo] = {}
        self._next_id = 1

    # -- tracks -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.info)

    @property
    def ids(self) -> list[int]:
        return list(self.info)

    def new_track(self, phrase: str, box: np.ndarray, score: float, stamp: float, source: str = "") -> int | None:
        """Start a track; returns its id, or None when ``max_tracks`` are live."""
        if len(self._slots) >= self.max_tracks:
            return None
        slot = next(i for i in range(self.max_tracks) if i not in self._slots.values())
        self._valid[slot] = False
        self._visible[slot] = False
        tid = self._next_id
        self._next_id += 1
        self._slots[tid] = slot
        self.info[tid] = TrackInfo(
            tid, phrase, stamp, stamp, stamp, np.asarray(box, float).copy(), score_sum=score, detections=1,
            source=source,
        )
        return tid

    def remove(self, track_ids: list[int] | tuple[int, ...]) -> None:
        """Forget tracks (unknown ids are ignored); their slots are reused."""
        for tid in track_ids:
            slot = self._slots.pop(tid, None)
            if slot is not None:
                self._valid[slot] = False
                self.info.pop(tid, None)

    def clear(self) -> None:
        """Forget every track and all history (ids keep increasing)."""
        self._slots.clear()
        self.info.clear()
        self._valid[:] = False
        self._visible[:] = False
        self._stamps[:] = -np.inf
        self._since_sample = np.eye(3)

    def count_keyframe(self, track_ids: list[int]) -> None:
        """Another keyframe passed while these tracks were alive (see ``TrackInfo.keyframes``)."""
        for tid in track_ids:
            self.info[tid].keyframes += 1

    def add_detection(self, track_id: int, phrase: str, score: float, stamp: float, source: str = "") -> None:
        info = self.info[track_id]
        info.phrase = phrase
        info.source = source
        info.score_sum += score
        info.detections += 1
        info.last_detected = stamp
        # A ruled-out track is grounded again only by a model's detection, which clears the mark.
        info.ruled_out = info.ruled_out and from_cue(source)
        info.candidate = not info.ruled_out

    def add_detected_box(self, track_id: int, stamp: float, box: np.ndarray) -> None:
        """The ``(4,)`` xyxy box a detector boxed the whole object with, on the frame of ``stamp``
        (s) in its pixels: kept with the track's next history sample (``Trajectory.detected``)."""
        self.info[track_id].last_detection = (stamp, np.asarray(box, float).copy())

    def add_crop(self, track_id: int, stamp: float, crop: np.ndarray) -> None:
        """Keep a keyframe crop ``(h, w, 3) uint8`` (downsized to ``crop_side_px``), oldest dropped."""
        h, w = crop.shape[:2]
        if h == 0 or w == 0:
            return
        f = min(1.0, self.crop_side_px / max(h, w))
        if f < 1.0:
            crop = cv2.resize(crop, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        crops = self.info[track_id].crops
        crops.append((stamp, np.ascontiguousarray(crop)))
        while len(crops) > self.max_crops:
            crops.popleft()

    # -- per frame --------------------------------------------------------------------------
    def apply_ego(self, affine: np.ndarray) -> None:
        """Move every stored box into the new frame's pixels with the camera's ``(2, 3)`` affine."""
        if np.allclose(affine, np.eye(2, 3)):
            return
        self._comp = affine_boxes(affine, self._comp)
        lin = affine[:, :2]
        for info in self.info.values():
            info.box = affine_boxes(affine, info.box)
            info.velocity = lin @ info.velocity
        a3 = np.eye(3)
        a3[:2] = affine
        self._since_sample = a3 @ self._since_sample

    def update(self, stamp: float, observations: dict[int, tuple[np.ndarray, float]], min_area: float) -> None:
        """Record this frame's boxes and visible areas.

        Args:
            stamp: frame time (s).
            observations: ``{track_id: ((4,) xyxy box, visible area px)}`` for tracks with a mask;
                tracks absent here count as not visible.
            min_area: smaller areas count as not visible.
        """
        for tid, info in self.info.items():
            obs = observations.get(tid)
            if obs is None or obs[1] < min_area:
                info.area = 0.0
                continue
            box, area = np.asarray(obs[0], float), float(obs[1])
            dt = stamp - info.last_seen
            if info.area > 0 and dt > 0:
                # Constant-velocity model: smooth the compensated centre displacement.
                step = (box_center_size(box)[0] - box_center_size(info.box)[0]) / dt
                info.velocity = 0.6 * info.velocity + 0.4 * step
            info.box, info.area, info.last_seen = box, area, stamp
        newest = self._stamps[(self._head - 1) % self.max_samples]
        if stamp - newest >= self.sample_period_s * 0.999 or stamp < newest:
            self._record(stamp)

    def _record(self, stamp: float) -> None:
        h = self._head
        previous = self._stamps[(h - 1) % self.max_samples]
        self._stamps[h] = stamp
        self._cam[h] = self._since_sample[:2]
        self._since_sample = np.eye(3)
        self._valid[:, h] = False
        self._visible[:, h] = False
        for tid, slot in self._slots.items():
            info = self.info[tid]
            self._valid[slot, h] = True
            self._visible[slot, h] = info.area > 0
            self._boxes[slot, h] = info.box
            self._comp[slot, h] = info.box
            self._areas[slot, h] = info.area
            detection = info.last_detection  # applied since the sample before (-inf before the first)
            self._detected[slot, h] = detection[1] if detection is not None and detection[0] > previous else np.nan
        self._head = (h + 1) % self.max_samples

    def predict(self, track_ids: list[int], stamp: float) -> np.ndarray:
        """Constant-velocity predicted ``(N, 4)`` boxes at ``stamp`` in current-frame pixels."""
        out = np.zeros((len(track_ids), 4))
        for i, tid in enumerate(track_ids):
            info = self.info[tid]
            shift = info.velocity * max(0.0, stamp - info.last_seen)
            out[i] = info.box + np.concatenate([shift, shift])
        return out

    # -- read out ---------------------------------------------------------------------------
    def _order(self, now: float) -> np.ndarray:
        """Ring indices oldest-first, restricted to samples within the window ending at ``now``."""
        idx = (np.arange(self.max_samples) + self._head) % self.max_samples
        st = self._stamps[idx]
        return idx[(st > now - self.window_s - 1e-9) & np.isfinite(st)]

    def camera_affines(self, now: float) -> np.ndarray:
        """``(T, 2, 3)`` camera motion accumulated between consecutive samples in the window."""
        return self._cam[self._order(now)]

    def trajectories(self, now: float, track_ids: list[int] | None = None) -> list[Trajectory]:
        """Trajectories (oldest sample first) of ``track_ids`` (default all) within the window."""
        order = self._order(now)
        out = []
        for tid in self.info if track_ids is None else track_ids:
            slot = self._slots[tid]
            sel = order[self._valid[slot, order]]
            info = self.info[tid]
            out.append(
                Trajectory(
                    track_id=tid,
                    phrase=info.phrase,
                    stamps=self._stamps[sel].copy(),
                    boxes=self._boxes[slot, sel].copy(),
                    comp_boxes=self._comp[slot, sel].copy(),
                    areas=self._areas[slot, sel].copy(),
                    visible=self._visible[slot, sel].copy(),
                    score=info.score,
                    source=info.source,
                    detected=self._detected[slot, sel].copy(),
                )
            )
        return out

    def window_bytes(self) -> int:
        """Bytes held by the history arrays and crops (the bounded part of the engine's memory)."""
        arrays = (self._stamps, self._cam, self._valid, self._visible, self._boxes, self._comp, self._areas,
                  self._detected)
        crops = sum(c.nbytes for info in self.info.values() for _, c in info.crops)
        return int(sum(a.nbytes for a in arrays) + crops)


@dataclass
class _PackedMask:
    """A ``(H, W) bool`` mask kept as the bit-packed crop of its bounding box."""

    y0: int
    x0: int
    h: int
    w: int
    bits: np.ndarray

    @classmethod
    def pack(cls, mask: np.ndarray) -> _PackedMask | None:
        ys = np.flatnonzero(mask.any(axis=1))
        if ys.size == 0:
            return None
        xs = np.flatnonzero(mask.any(axis=0))
        y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
        return cls(y0, x0, y1 - y0, x1 - x0, np.packbits(mask[y0:y1, x0:x1]))

    def paint(self, out: np.ndarray) -> None:
        """OR this mask into ``out`` ``(H, W) bool``."""
        crop = np.unpackbits(self.bits, count=self.h * self.w).reshape(self.h, self.w).astype(bool)
        out[self.y0 : self.y0 + self.h, self.x0 : self.x0 + self.w] |= crop


class HistoryRecorder:
    """Whole-video history for offline mode: every frame's camera affine and every track's mask.

    Unlike ``TrackStore`` this is not bounded (offline mode processes a finite video and may
    revise every frame once the full trajectories are known): it keeps every working-resolution
    frame (for backward propagation) and every mask as the bit-packed crop of its bounding box,
    about ``box_area / 8`` bytes. Pixel values are at the working resolution.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget everything."""
        self.stamps: list[float] = []
        self.affines: list[np.ndarray] = []  # previous -> this frame
        self.masks: list[dict[int, _PackedMask]] = []
        self.boxes: list[dict[int, tuple[np.ndarray, float]]] = []  # track id -> (box, area)
        self.detected: list[dict[int, np.ndarray]] = []  # track id -> (4,) box of a detection applied on the frame
        self.phrases: dict[int, str] = {}
        self.scores: dict[int, float] = {}
        self.candidates: set[int] = set()  # tracks grounded by the command at some frame
        self.size: tuple[int, int] = (0, 0)
        self.images: list[np.ndarray] = []  # (h, w, 3) uint8 RGB working-resolution frames

    def record(
        self,
        stamp: float,
        affine: np.ndarray,
        masks: dict[int, np.ndarray],
        store: TrackStore,
        image: np.ndarray,
    ) -> None:
        """Keep this frame: ``image`` ``(h, w, 3) uint8`` RGB and ``masks`` ``{track_id: (h, w) bool}``
        at the working resolution, and ``affine`` ``(2, 3)`` previous -> this frame."""
        size = (image.shape[1], image.shape[0])
        if size != self.size:
            # A resolution change restarts tracking, so earlier frames cannot be related to later ones.
            self.clear()
            self.size = size
        packed: dict[int, _PackedMask] = {}
        boxes: dict[int, tuple[np.ndarray, float]] = {}
        for tid, mask in masks.items():
            p = _PackedMask.pack(mask)
            if p is None:
                continue
            packed[tid] = p
            boxes[tid] = (np.array([p.x0, p.y0, p.x0 + p.w, p.y0 + p.h], float), float(mask.sum()))
        detected: dict[int, np.ndarray] = {}
        for tid, info in store.info.items():
            if info.last_detection is not None and info.last_detection[0] == stamp:
                detected[tid] = info.last_detection[1]
            self.phrases[tid] = info.phrase
            self.scores[tid] = info.score
            if info.candidate:
                self.candidates.add(tid)
        self.stamps.append(stamp)
        self.images.append(image)
        self.affines.append(np.asarray(affine, float))
        self.masks.append(packed)
        self.boxes.append(boxes)
        self.detected.append(detected)

    def __len__(self) -> int:
        return len(self.stamps)

    def track_ids(self, candidates: set[int] | None = None) -> list[int]:
        seen = sorted({tid for frame in self.boxes for tid in frame})
        return [t for t in seen if candidates is None or t in candidates]

    def _to_last(self) -> list[np.ndarray]:
        """Per frame, the ``(3, 3)`` map from its pixels to the last frame's (chained ego affines)."""
        n = len(self.stamps)
        to_last = [np.eye(3)] * n
        acc = np.eye(3)
        for i in range(n - 1, -1, -1):
            to_last[i] = acc
            a = np.eye(3)
            a[:2] = self.affines[i]
            acc = acc @ a
        return to_last

    def span(self, tid: int) -> tuple[int, int]:
        """First and last frame index where ``tid`` has a mask."""
        frames = [i for i, b in enumerate(self.boxes) if tid in b]
        return frames[0], frames[-1]

    def drop(self, tid: int) -> None:
        """Forget every recorded mask of ``tid`` (a track restarted: its earlier masks were wrong)."""
        for masks, boxes in zip(self.masks, self.boxes, strict=True):
            masks.pop(tid, None)
            boxes.pop(tid, None)

    def add_mask(self, index: int, tid: int, mask: np.ndarray) -> None:
        """Add (or replace) ``tid``'s ``(h, w) bool`` mask on frame ``index``."""
        p = _PackedMask.pack(mask)
        if p is not None:
            self.masks[index][tid] = p
            self.boxes[index][tid] = (np.array([p.x0, p.y0, p.x0 + p.w, p.y0 + p.h], float), float(mask.sum()))

    def context(self, i: int, *, index: int | None = None, prev: int | None = None) -> FrameContext:
        """A ``FrameContext`` for recorded frame ``i``.

        Args:
            i: recorded frame.
            index: the frame number to report (default ``i``; a backward pass keeps it increasing).
            prev: the recorded frame to give as the previous one: ``i - 1``, or ``i + 1`` for a
                backward pass (the camera motion is then inverted); None for none.
        """
        gray = cv2.cvtColor(self.images[i], cv2.COLOR_RGB2GRAY)
        ctx = FrameContext(i if index is None else index, self.stamps[i], self.images[i], gray)
        if prev == i - 1 and prev >= 0:
            ctx.prev_gray = cv2.cvtColor(self.images[prev], cv2.COLOR_RGB2GRAY)
            ctx.ego_affine = self.affines[i].copy()
        elif prev == i + 1 and prev < len(self.images):
            ctx.prev_gray = cv2.cvtColor(self.images[prev], cv2.COLOR_RGB2GRAY)
            ctx.ego_affine = cv2.invertAffineTransform(self.affines[prev]).astype(np.float64)
        elif prev is not None:
            raise ValueError(f"prev must be a neighbour of frame {i}, got {prev}")
        return ctx

    def _velocity(self, tid: int, end: int, to_last: list[np.ndarray]) -> np.ndarray:
        """Compensated box-centre velocity (pixels per frame) of ``tid`` over its last frames up to ``end``."""
        frames = [k for k in range(max(0, end - 5), end) if tid in self.boxes[k]]
        if not frames:
            return np.zeros(2)
        k = frames[0]
        carry = np.linalg.inv(to_last[end]) @ to_last[k]
        start = box_center_size(affine_boxes(carry[:2], self.boxes[k][tid][0]))[0]
        return (box_center_size(self.boxes[end][tid][0])[0] - start) / (end - k)

    def chain(self, track_ids: tuple[int, ...], pool: list[int], max_gap_s: float) -> tuple[int, ...]:
        """``track_ids`` plus the tracks of ``pool`` that continue them after a break (re-identification).

        A track continues another when it starts after the other ends (or ends before it starts)
        within ``max_gap_s``, and its box at that moment lies within one box size of the other's
        box carried across the gap with the camera motion and its own velocity, at a similar size
        (ratio below 2). Each break takes at most one continuation, the nearest, and a chain never
        holds two tracks at the same time (one object is in one place).
        """
        to_last = self._to_last()
        spans = {tid: self.span(tid) for tid in pool}
        out = list(track_ids)
        frontier = [t for t in track_ids if t in spans]

        def overlaps_chain(t: int) -> bool:
            ft, lt = spans[t]
            return any(ft <= spans[o][1] and spans[o][0] <= lt for o in out if o in spans)

        while frontier:
            c = frontier.pop()
            fc, lc = spans[c]
            best: dict[str, tuple[float, int]] = {}  # direction -> (distance in box sizes, track)
            for t, (ft, lt) in spans.items():
                if t in out or overlaps_chain(t):
                    continue
                if ft > lc and self.stamps[ft] - self.stamps[lc] <= max_gap_s:
                    (i, a), (j, b), direction = (lc, c), (ft, t), "after"
                elif lt < fc and self.stamps[fc] - self.stamps[lt] <= max_gap_s:
                    (i, a), (j, b), direction = (lt, t), (fc, c), "before"
                else:
                    continue
                # Carry the earlier box into the later frame's pixels and move it on at its velocity.
                carry = np.linalg.inv(to_last[j]) @ to_last[i]
                box_a = affine_boxes(carry[:2], self.boxes[i][a][0])
                box_b = self.boxes[j][b][0]
                (ca, sa), (cb, sb) = box_center_size(box_a), box_center_size(box_b)
                ca = ca + self._velocity(a, i, to_last) * (j - i)
                size_a, size_b = float(np.hypot(*sa)), float(np.hypot(*sb))
                distance = float(np.hypot(*(ca - cb))) / max(size_a, size_b, 1e-6)
                similar = max(size_a, size_b) <= 2.0 * max(min(size_a, size_b), 1e-6)
                if distance <= 1.0 and similar and (direction not in best or distance < best[direction][0]):
                    best[direction] = (distance, t)
            # The "before" continuation ends before ``c`` starts and the "after" one starts after it
            # ends, so the two never overlap each other: both join.
            for _, t in best.values():
                out.append(t)
                frontier.append(t)
        return tuple(out)

    def trajectories(self, track_ids: list[int]) -> list[Trajectory]:
        """Full-video trajectories, compensated into the last frame's pixels."""
        to_last = self._to_last()
        stamps = np.asarray(self.stamps)
        out = []
        for tid in track_ids:
            first, last = self.span(tid)
            rng = range(first, last + 1)
            boxes = np.zeros((len(rng), 4))
            areas = np.zeros(len(rng))
            detected = np.full((len(rng), 4), np.nan)
            for k, i in enumerate(rng):
                if tid in self.detected[i]:
                    detected[k] = self.detected[i][tid]
                if tid in self.boxes[i]:
                    boxes[k], areas[k] = self.boxes[i][tid]
                else:
                    boxes[k] = boxes[k - 1]
            comp = np.stack([affine_boxes(to_last[i][:2], boxes[k]) for k, i in enumerate(rng)])
            out.append(
                Trajectory(
                    tid,
                    self.phrases.get(tid, ""),
                    stamps[first : last + 1].copy(),
                    boxes,
                    comp,
                    areas,
                    areas > 0,
                    self.scores.get(tid, 1.0),
                    detected=detected,
                )
            )
        return out

    def occlusions(self, track_ids: list[int], min_overlap: float = 0.1, min_frames: int = 3) -> list[OcclusionFact]:
        """Occlusion facts over the whole video: for each pair of ``track_ids`` overlapping on at
        least ``min_frames`` frames, the median overlap (intersection over the smaller box) over
        every frame showing both (0 where they do not overlap), the nearer one being the one with
        the larger visible area more often. Pairs below ``min_overlap`` are left out; strongest
        overlap first."""
        index = {tid: i for i, tid in enumerate(track_ids)}
        n = len(track_ids)
        overlaps: dict[tuple[int, int], list[float]] = {}
        front_votes = np.zeros((n, n))
        together = np.zeros((n, n), int)  # frames showing both tracks
        for frame in self.boxes:
            present = [t for t in track_ids if t in frame]
            if len(present) < 2:
                continue
            rows = [index[t] for t in present]
            together[np.ix_(rows, rows)] += 1
            ov = overlap_matrix(np.array([frame[t][0] for t in present]))
            areas = np.array([frame[t][1] for t in present])
            ii, jj = np.nonzero(np.triu(ov > 0, k=1))
            for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
                a, b = rows[i], rows[j]
                overlaps.setdefault((min(a, b), max(a, b)), []).append(float(ov[i, j]))
                front, back, _ = front_back(i, j, areas)  # no depth in the history: by visible area
                front_votes[rows[front], rows[back]] += 1
        facts = []
        for (a, b), values in overlaps.items():
            if len(values) < min_frames:
                continue
            overlap = float(np.median(values + [0.0] * (together[a, b] - len(values))))
            if overlap >= min_overlap:
                front, back = (a, b) if front_votes[a, b] >= front_votes[b, a] else (b, a)
                facts.append(OcclusionFact(track_ids[front], track_ids[back], overlap))
        facts.sort(key=lambda f: -f.overlap)
        return facts

    def union_mask(self, index: int, track_ids: tuple[int, ...]) -> np.ndarray:
        """``(H, W) bool`` union of ``track_ids`` masks on frame ``index`` (working resolution)."""
        out = np.zeros((self.size[1], self.size[0]), bool)
        for tid in track_ids:
            p = self.masks[index].get(tid)
            if p is not None:
                p.paint(out)
        return out
