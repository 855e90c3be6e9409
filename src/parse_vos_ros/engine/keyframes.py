"""Keyframe work off the frame path (``engine.async_keyframes``): every keyframe (periodic, a new
command's, a search's, a motionless restart's) runs in a ``worker.Worker`` on the frame t it was
due on, and the frame loop applies it on the frame the work finishes, carried there with the
camera motion it has already estimated (``carry.py``). The frame loop never waits: a keyframe due
while the worker is busy is skipped and retried on the next frame, never queued. Only a stream's
first frame (no previous frame: no tracks, no motion, nothing to carry a late keyframe onto) is
grounded inline.

Two worker jobs per keyframe. (1) Detection with crop recognition. A detection made on frame t is
associated with the tracks as they were on frame t (their masks then, kept in the job) in the
present frame's pixels: detection boxes and the tracks' frame-t mask boxes are both moved by the
camera motion from t to now; mask overlap compares frame-t masks with frame-t detection masks.
The worker also cuts (GrabCut, ``EmbeddedSegmenter.cut``) on frame t the detections likely to
start tracks, judged against the tracks' frame-t masks (``births.to_cut``); the tracks they start
begin with those cuts, moved to the present by the segmenter's flows (``start_objects``), and only
a birth without a cut that could be moved is cut on the frame loop (its box, on the present
frame), as is a track started without motion that is cut again (once per stream;
docs/performance.md, "New tracks cut in the worker", says why). (2) The keyframe masks
(DeepLab) of the selected and new tracks on that frame, and the refreshes between keyframes,
applied on a later one: carried there through the segmenter's dense flows when it keeps them
(``EmbeddedSegmenter.carry``), else by the camera motion and the shift of the track's propagated
mask (``carry.carried_masks``), and kept only where they pass the same gate as an inline mask
(``KeyframeMasks.accept``, with the named-class judgement made in the worker).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from parse_vos_ros.config import Config
from parse_vos_ros.engine.births import to_cut
from parse_vos_ros.engine.candidates import Candidates, Grounding
from parse_vos_ros.engine.carry import MotionLog, carried_detections, carried_masks, tracks_on
from parse_vos_ros.engine.schedule import NEVER, KeyframeSchedule
from parse_vos_ros.engine.selection import Selection
from parse_vos_ros.engine.worker import Worker, ms_since
from parse_vos_ros.tracking.keyframe_masks import KeyframeMasks
from parse_vos_ros.tracking.store import HistoryRecorder
from parse_vos_ros.types import Detection, FrameContext


@dataclass(frozen=True)
class KeyframeJob:
    """The keyframe work of frame ``frame.index``: detection (``phrases``), or keyframe masks (no
    phrases) for the selected tracks and the ``fresh`` ones with their ``detection_boxes``."""

    generation: int  # the keyframe epoch (command and stream) it was made for
    frame: FrameContext
    image: np.ndarray  # (H, W, 3) uint8 RGB at the camera's resolution
    phrases: tuple[str, ...]
    masks: dict[int, np.ndarray]  # every track's (h, w) bool mask on the frame
    selected: tuple[int, ...]  # the selected tracks on the frame
    fresh: tuple[int, ...] = ()  # tracks cut from a box by the detections these masks follow (Grounding.fresh)
    detection_boxes: dict[int, np.ndarray] = field(default_factory=dict)  # (4,) xyxy per matched or born track
    view: object | None = None  # the segmenter's ``cut_view`` of the frame: the likely births are cut on it
    wide: bool = False  # nothing is told apart yet: more detections may start tracks
    # What the detector is asked for each of ``phrases``, in order (``vocabulary.detection_phrases``:
    # "kid in a black shirt" for "kid"); empty: the phrases themselves.
    asked: tuple[str, ...] = ()
    submitted: float = field(default_factory=time.perf_counter)  # perf_counter() seconds


@dataclass(frozen=True)
class KeyframeOutcome:
    """What the worker found on a keyframe."""

    job: KeyframeJob
    detections: list[Detection]
    target_masks: dict[int, np.ndarray]  # keyframe masks, (h, w) bool on job.frame
    detect_ms: float
    masks_ms: float
    named: frozenset[int] = frozenset()  # tracks whose keyframe mask is of a class the command names
    cuts: dict[int, object] = field(default_factory=dict)  # the segmenter's cut of each likely birth (detection index)


def detect_on_keyframe(job: KeyframeJob, detector, keyframe_masks: KeyframeMasks | None, segmenter=None,
                       config: Config | None = None) -> KeyframeOutcome:
    """The worker's part: detection (and, given the job's ``view``, the cuts of the detections
    likely to start tracks, so the frame loop need not cut them), or the keyframe masks once the
    detections are applied."""
    t0 = time.perf_counter()
    if job.phrases:
        asked = job.asked or job.phrases
        detections = detector.detect(job.frame, asked)
        phrase_of = dict(zip(asked, job.phrases, strict=True))
        for d in detections:  # each found for the candidate phrase it was asked for
            d.phrase = phrase_of.get(d.phrase, d.phrase)
        cuts = {}
        if job.view is not None and segmenter is not None and config is not None:
            chosen = to_cut(detections, job.masks, config, job.wide)
            cuts = segmenter.cut(job.view, {i: detections[i].box for i in chosen})
        return KeyframeOutcome(job, detections, {}, ms_since(t0), 0.0, cuts=cuts)
    found: dict[int, np.ndarray] = {}
    named: frozenset[int] = frozenset()
    if keyframe_masks is not None and job.masks:
        found, named = keyframe_masks.masks_named(job.image, job.masks, job.selected, job.fresh, job.detection_boxes)
    return KeyframeOutcome(job, [], found, 0.0, ms_since(t0), named)


def failed_keyframe(job: KeyframeJob, exc: Exception) -> KeyframeOutcome:
    """A keyframe whose detector raised finds nothing (the next one is scheduled as usual)."""
    return KeyframeOutcome(job, [], {}, 0.0, 0.0)


class Keyframer:
    """Step 4 of a frame: detection, association and births, keyframe masks, inline or with the
    detection and the keyframe masks in a worker thread (see the module docstring).

    Args:
        detector: the ``Detector`` backend.
        keyframe_masks: the keyframe mask model, or None.
        candidates: the tracks (association, births and re-anchoring happen there).
        schedule: when keyframes are due.
        threaded: run the worker's part in a background thread.
        nice: the worker thread's OS nice steps below the frame loop (``Worker``).

    Attributes:
        threaded: keyframes go to the worker thread (settable: ``run_offline`` runs them inline,
            so a whole-video run does not depend on thread timing); False without a thread.
        motion: the camera motion of the last frames (threaded only), which carries a keyframe to the present.
    """

    def __init__(self, detector, keyframe_masks: KeyframeMasks | None, candidates: Candidates,
                 schedule: KeyframeSchedule, threaded: bool, nice: int = 0) -> None:
        self.detector = detector
        self.keyframe_masks = keyframe_masks
        self.candidates = candidates
        self.schedule = schedule
        self.motion = MotionLog()
        self._epoch = 0  # keyframe work of an older command or stream is dropped
        self._masked_at = NEVER  # the frame the selected targets' masks were last segmented on (or handed over)
        self._worker: Worker[KeyframeJob, KeyframeOutcome] | None = None
        if threaded:
            self._worker = Worker("parse-vos-keyframes", self._detect, True, failed_keyframe, nice=nice)
        self.threaded = threaded

    def reset(self) -> None:
        """A new stream: forget the motion, drop work in flight."""
        self.motion.clear()
        self.new_epoch()

    def new_epoch(self) -> None:
        """Keyframe work in flight belongs to another command or stream: the next frame is due,
        and stays due until its keyframe is made (threaded: until the worker is free for it)."""
        self._epoch += 1
        self.schedule.reset()
        self._masked_at = NEVER
        if self._worker is not None:
            self._worker.invalidate(self._epoch)

    def settle(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until the worker runs no keyframe (``Worker.settle``)."""
        return self._worker is None or self._worker.settle(timeout_s)

    def close(self) -> None:
        """Stop the worker thread."""
        if self._worker is not None:
            self._worker.close()

    def step(self, image: np.ndarray, frame: FrameContext, masks: dict[int, np.ndarray], phrases: tuple[str, ...],
             new_command: bool, search_faster: bool, selection: Selection, recorder: HistoryRecorder | None,
             timings: dict[str, float], asked: tuple[str, ...] = ()) -> Grounding | None:
        """Ground ``phrases`` when a keyframe is due: on this frame (inline), or threaded by handing
        it to the worker and applying the keyframe the worker finished. ``masks`` updated. Returns
        what the detections applied on this frame did, None when none were. ``asked``: see
        ``KeyframeJob.asked``."""
        scheduled = self.schedule.due(frame.index, new_command, search_faster)
        # An extra keyframe for tracks started without motion keeps the schedule where it was.
        restart_motionless = bool(self.candidates.motionless and frame.prev_gray is not None)
        due = bool(phrases) and (scheduled or restart_motionless)
        # A stream's first frame has no past to keep steady and nothing to carry a late keyframe
        # onto (no tracks, no motion): it is grounded on itself, as without a worker, unless the
        # worker still runs work of the stream before (the models must not run in two threads).
        first = frame.prev_gray is None and self._worker is not None and self._worker.idle
        if self._worker is None or not self.threaded or first:
            if not due:
                if self._refresh_due(frame.index, selection):  # between keyframes: the masks drift
                    t = time.perf_counter()
                    self._masked_at = frame.index
                    self._set_masks(frame, masks, self.keyframe_masks.masks(image, masks, selection.track_ids, (), {}))
                    timings["keyframe_masks"] = ms_since(t)
                return None
            job = KeyframeJob(self._epoch, frame, image, phrases, masks, selection.track_ids, asked=asked)
            outcome = detect_on_keyframe(job, self.detector, None)
            if scheduled:  # only a keyframe that got its detections moves the schedule
                self.schedule.done(frame.index)
            return self._apply_now(outcome, image, frame, masks, selection, recorder, timings)
        self.motion.add(frame.index, frame.ego_affine)  # carries the worker's keyframes to now
        if due and self._worker.idle:
            # A keyframe that comes while one runs is skipped (retried on the next frame), never
            # queued: the frame loop never waits for the worker, whatever the keyframe is for.
            self._worker.submit(KeyframeJob(self._epoch, frame, image, phrases, dict(masks), selection.track_ids,
                                            view=self._cut_view(frame), wide=selection.searching, asked=asked))
            if scheduled:
                self.schedule.done(frame.index)
        elif not due and self._worker.idle and self._refresh_due(frame.index, selection):
            # Between keyframes the selected targets' masks are segmented again (they drift); a
            # refresh due while the worker runs waits for the next frame it is idle on.
            self._masked_at = frame.index
            self._worker.submit(KeyframeJob(self._epoch, frame, image, (), dict(masks), selection.track_ids))
        outcome = self._worker.poll()
        return None if outcome is None else self._apply_late(outcome, image, frame, masks, selection, recorder,
                                                             timings)

    def _apply_now(self, outcome: KeyframeOutcome, image: np.ndarray, frame: FrameContext,
                   masks: dict[int, np.ndarray], selection: Selection, recorder: HistoryRecorder | None,
                   timings: dict[str, float]) -> Grounding:
        """Apply detections made on ``frame`` itself, then its keyframe masks."""
        timings["detect"] = outcome.detect_ms
        t = time.perf_counter()
        grounding = self.candidates.ground(frame, masks, outcome.detections, wide=selection.searching,
                                           recorder=recorder)
        timings["associate"], t = ms_since(t), time.perf_counter()
        if self.keyframe_masks is not None:
            found = self.keyframe_masks.masks(image, masks, selection.track_ids, grounding.fresh, grounding.boxes)
            self._set_masks(frame, masks, found)
            timings["keyframe_masks"] = ms_since(t)
        return grounding

    def _apply_late(self, outcome: KeyframeOutcome, image: np.ndarray, frame: FrameContext,
                    masks: dict[int, np.ndarray], selection: Selection, recorder: HistoryRecorder | None,
                    timings: dict[str, float]) -> Grounding | None:
        """Apply the worker's keyframe of an earlier frame on ``frame``, carried by the camera motion since."""
        job = outcome.job
        affine = self.motion.since(job.frame.index)
        if affine is None:
            return None
        t = time.perf_counter()
        timings["keyframe_latency_ms"] = (t - job.submitted) * 1e3
        timings["keyframe_latency_frames"] = float(frame.index - job.frame.index)
        if not job.phrases:  # keyframe masks: warped to now, kept where they agree with propagation
            timings["worker_keyframe_masks"] = outcome.masks_ms
            found = {}
            flow_carry = getattr(self.candidates.segmenter, "carry", None)
            for tid, mask in carried_masks(outcome.target_masks, job.masks, masks, affine, job.frame.index,
                                           flow_carry if callable(flow_carry) else None).items():
                # the same gate as on the keyframe itself: the class-aware one for a named class
                kept = (self.keyframe_masks.accept(mask, masks[tid], known=tid in outcome.named)
                        if self.keyframe_masks else None)
                if kept is not None:
                    found[tid] = kept
            self._set_masks(frame, masks, found)
            timings["keyframe_masks"] = ms_since(t)
            return None
        timings["detect"] = 0.0  # it ran in the worker (worker_detect)
        timings["worker_detect"] = outcome.detect_ms
        # The tracks as they were on the job's frame, their boxes moved to now.
        then = tracks_on(job.frame, job.masks, self.candidates.store.ids, affine)
        grounding = self.candidates.ground(frame, masks, carried_detections(outcome.detections, affine),
                                           wide=selection.searching, recorder=recorder, then=then,
                                           cuts=outcome.cuts)
        if job.view is not None:
            self.candidates.segmenter.cuts_landed()
        timings["associate"] = ms_since(t)
        if self.keyframe_masks is not None and self._worker is not None:
            # The masks follow from the worker too: of this frame, for the tracks just cut from a box.
            self._worker.submit(KeyframeJob(self._epoch, frame, image, (), dict(masks), selection.track_ids,
                                            grounding.fresh, dict(grounding.boxes)))
        return grounding

    def _cut_view(self, frame: FrameContext) -> object | None:
        """The segmenter's view of ``frame`` for cutting new tracks in the worker, None when it
        cannot (then the frame loop cuts them when the detections are applied)."""
        segmenter = self.candidates.segmenter
        return segmenter.cut_view(frame) if hasattr(segmenter, "cut") else None

    def _refresh_due(self, index: int, selection: Selection) -> bool:
        """The selected targets' masks are due for re-segmenting on frame ``index`` between keyframes."""
        if self.keyframe_masks is None or not selection.track_ids or selection.searching:
            return False
        return self.keyframe_masks.refresh_due(index - max(self.schedule.last, self._masked_at))

    def _set_masks(self, frame: FrameContext, masks: dict[int, np.ndarray], found: dict[int, np.ndarray]) -> None:
        if found:
            segmenter = self.candidates.segmenter
            masks.update(self.candidates.checked(segmenter.set_masks(frame, found), frame.gray.shape))

    def _detect(self, job: KeyframeJob) -> KeyframeOutcome:
        return detect_on_keyframe(job, self.detector, self.keyframe_masks, self.candidates.segmenter,
                                  self.candidates.config)
