"""The streaming PARSE-VOS engine: ``set_command()`` then ``push_frame()`` per camera frame.

Per frame (causal, results for frame t use frames <= t only):
1. downscale to ``engine.working_width`` and estimate camera ego-motion (features outside the
   current candidate masks); every stored trajectory is moved into the new frame's pixels;
2. the segmenter propagates every track's mask;
3. on keyframes (every ``engine.keyframe_interval`` frames, and on the first frame after a new
   command) the detector grounds the command's candidate phrases; detections are associated
   with tracks by predictive association; unmatched detections start tracks, lost tracks die
   after ``tracking.lost_after_s``; duplicates are merged;
4. the motion reasoner selects tracks from the trajectories in the sliding window (at once on a
   new command, then at most every ``engine.reason_interval_s``), the pose verifier breaks ties
   when more than ``pose.trigger_above`` candidates remain; optionally in a background thread;
5. the union mask of the selected tracks is upscaled to the input resolution.

With an aligned depth image (``push_frame(..., depth=DepthFrame)``) each track's distance is
measured every frame (median depth under its mask): the reasoners get metric distance and radial
speed, occlusion order comes from depth, and every selected visible track gets a 3D point.

Without a command the engine still grounds ``engine.idle_phrase`` so that a new command is
answered at once from the motion history already in the window.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from parse_vos_ros import backends
from parse_vos_ros.config import Config
from parse_vos_ros.context.depth import DepthFrame, median_depth, target_point
from parse_vos_ros.context.distances import DistanceHistory
from parse_vos_ros.context.ego_motion import IDENTITY, EgoMotionEstimator, describe_camera
from parse_vos_ros.context.occlusion import occlusion_facts
from parse_vos_ros.grounding.association import associate, iou_matrix
from parse_vos_ros.parsing.base import CommandParseError, CommandParser
from parse_vos_ros.parsing.schema import validate_parsed
from parse_vos_ros.reasoning.calibration import calibrated_score
from parse_vos_ros.reasoning.grounded import not_found_reason
from parse_vos_ros.reasoning.parts import wholes_for_parts
from parse_vos_ros.tracking.keyframe_masks import KeyframeMasks
from parse_vos_ros.tracking.store import HistoryRecorder, TrackStore, affine_boxes
from parse_vos_ros.types import (
    MIN_IMAGE_SIDE,
    Detection,
    FrameContext,
    FrameResult,
    ParsedCommand,
    ReasoningResult,
    SceneSummary,
    TargetPoint,
    TargetState,
    Trajectory,
)

LOG = logging.getLogger(__name__)

POSE_MARGIN = 0.1  # candidates scoring within this of the best "remain" for pose verification
MERGE_IOU = 0.7  # two tracks whose masks overlap this much are the same object
UNCERTAIN_REASON_S = 0.1  # reasoning period (s) while the selection is empty or ambiguous
BIRTH_RELATIVE = 0.3  # a detection starts a track only if it scores at least this x the keyframe's best
SUPPRESS_IOU = 0.5  # detections overlapping a just-pruned track this much start no track
PRUNE_AFTER_S = 1.0  # a track is judged (and may be pruned) only after this much history
SEARCH_BIRTHS_FACTOR = 2  # births per keyframe are multiplied by this while nothing is selected unambiguously
SWITCH_AFTER_S = 0.5  # a new choice kept out by switch_margin wins once preferred for this long
RECUT_IOU = 0.85  # a track started without motion is cut again unless its next box agrees this much
SEARCH_INTERVAL_DIVISOR = 3  # keyframes come this many times more often while nothing is selected


@dataclass
class _Command:
    parsed: ParsedCommand
    command_id: str
    stamp: float | None
    generation: int


@dataclass
class _Selection:
    track_ids: tuple[int, ...] = ()
    score: float = 0.0
    ambiguous: bool = False
    trace: dict[str, object] = field(default_factory=dict)
    challenger: tuple[int, ...] = ()  # the reasoner's choice that the current one is kept over
    challenger_since: float = math.inf  # stamp since which the reasoner has preferred it
    not_found: str = ""  # why nothing in view grounds the command (reasoning/grounded.py), "" otherwise


@dataclass
class _Pruned:
    """A pruned track's box, moved on at its velocity, so its object is not started again at once."""

    box: np.ndarray  # (4,) xyxy, current-frame pixels
    velocity: np.ndarray  # (2,) compensated pixels per second
    stamp: float
    expiry: float

    def moved(self, affine: np.ndarray, stamp: float) -> _Pruned:
        """Carried into the next frame: camera motion ``(2, 3)`` plus its own motion up to ``stamp``."""
        shift = self.velocity * (stamp - self.stamp)
        box = affine_boxes(affine, self.box) + np.concatenate([shift, shift])
        return _Pruned(box, affine[:, :2] @ self.velocity, stamp, self.expiry)


@dataclass
class _Job:
    generation: int
    command: ParsedCommand
    scene: SceneSummary
    crops: dict[int, list[np.ndarray]]
    stamp: float


def _mask_box(mask: np.ndarray) -> np.ndarray | None:
    """xyxy box of a ``(H, W) bool`` mask, None when empty."""
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    return None if w == 0 else np.array([x, y, x + w, y + h], float)


class Engine:
    """Streaming referring segmentation over a camera stream (see the module docstring).

    ``set_command`` / ``clear_command`` may be called from any thread; ``push_frame``, ``reset``
    and ``stats`` belong to the one thread that feeds frames.

    Args:
        config: the validated configuration.
        detector, segmenter, parser, reasoner, pose_verifier: backends; each defaults to the one
            ``parse_vos_ros.backends`` builds from ``config`` (the parser only when a text command
            arrives).
        async_reasoning: run the reasoner and pose verifier in a background thread so
            ``push_frame`` never waits for them; a new command discards an in-flight result.
    """

    def __init__(
        self,
        config: Config,
        *,
        detector=None,
        segmenter=None,
        parser=None,
        reasoner=None,
        pose_verifier=None,
        async_reasoning: bool = False,
    ) -> None:
        self.config = config
        ec = config.engine
        self.detector = detector if detector is not None else backends.build_detector(config)
        self.segmenter = segmenter if segmenter is not None else backends.build_segmenter(config)
        self.reasoner = reasoner if reasoner is not None else backends.build_reasoner(config)
        self.pose_verifier = pose_verifier if pose_verifier is not None else backends.build_pose_verifier(config)
        # Keyframe target masks re-anchor the segmenter through its ``set_masks``; without one (a
        # test double) or with ``tracking.keyframe_masks: none``, propagation alone carries the masks.
        self.keyframe_masks = KeyframeMasks.from_config(config) if hasattr(self.segmenter, "set_masks") else None
        self._parser = parser
        self.store = TrackStore(ec.max_tracks, ec.max_history_samples, ec.window_s, ec.max_crops_per_track)
        self.ego = EgoMotionEstimator()
        self.distances = DistanceHistory(ec.window_s, ec.max_history_samples)
        self.offline_distances: DistanceHistory | None = None  # whole-video distances, set by run_offline
        self.recorder: HistoryRecorder | None = None  # set by run_offline
        self._lock = threading.Lock()
        self._command: _Command | None = None
        self._pending: _Command | None = None
        self._generation = 0
        self._selection = _Selection()
        self._counters = dict.fromkeys(("frames", "keyframes", "reasonings", "resets", "births", "pruned"), 0.0)
        self._async = async_reasoning
        self._job: _Job | None = None
        self._reasoner_busy = False  # the reasoning thread is running a job (async mode)
        self._result: tuple[int, ReasoningResult, dict[str, object], float] | None = None
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._worker: threading.Thread | None = None
        if async_reasoning:
            self._worker = threading.Thread(target=self._reason_loop, name="parse-vos-reasoner", daemon=True)
            self._worker.start()
        self._reset_tracking()

    # -- commands ---------------------------------------------------------------------------
    @property
    def parser(self) -> CommandParser:
        """The command parser (built from the config on first use)."""
        if self._parser is None:
            self._parser = backends.build_parser(self.config)
        return self._parser

    def set_command(
        self, command: str | ParsedCommand, stamp: float | None = None, command_id: str = ""
    ) -> ParsedCommand:
        """Set the referring command; it takes effect on the next frame (a keyframe).

        Raises:
            CommandParseError: the text cannot be parsed (the previous command stays active).
        """
        if isinstance(command, str):
            parsed = self.parser.parse(command)
        elif isinstance(command, ParsedCommand):
            # A caller-built command gets the same schema check as a parser's output (it may come
            # from an LLM or a ROS message): bad cardinality, empty or control-character phrases.
            parsed = validate_parsed(command.to_dict(), text=command.text, source=command.source)
        else:
            raise CommandParseError(f"command must be text or a ParsedCommand, got {type(command).__name__}")
        with self._lock:
            self._cancel_reasoning()
            self._generation += 1
            self._pending = _Command(parsed, command_id, stamp, self._generation)
            self._job = None  # a queued reasoning for the old command is obsolete
        return parsed

    def clear_command(self) -> None:
        """Drop the command (tracks and history are kept)."""
        with self._lock:
            self._cancel_reasoning()
            self._generation += 1
            self._pending = None
            self._command = None
            self._job = None
        self._selection = _Selection()

    def _cancel_reasoning(self) -> None:
        """Stop an in-flight reasoner call for the old command (an LLM call would otherwise run to
        its timeout for a result that is discarded). Called under ``_lock``: the next ``select``
        can only start after the lock is released and clears the request first."""
        cancel = getattr(self.reasoner, "cancel", None)
        if callable(cancel):
            cancel()

    @property
    def command(self) -> ParsedCommand | None:
        """The active command, or None."""
        cmd = self._pending or self._command
        return cmd.parsed if cmd else None

    @property
    def working_depth(self) -> DepthFrame | None:
        """The last frame's depth at the working resolution (None without depth)."""
        return self._depth

    @property
    def track_masks(self) -> dict[int, np.ndarray]:
        """Every live candidate track's mask on the last frame: ``{track_id: (h, w) bool}`` at the
        working resolution (``engine.working_width``), for inspection; the caller must not modify them."""
        return dict(self._masks)

    # -- lifecycle --------------------------------------------------------------------------
    def _reset_tracking(self) -> None:
        self.store.clear()
        self.segmenter.reset()
        self.distances.clear()
        self._depth: DepthFrame | None = None  # this frame's depth at the working resolution
        self._frame_distances: dict[int, float] = {}  # this frame's measured distance per track, metres
        self._prev_gray: np.ndarray | None = None
        self._prev_points: np.ndarray | None = None
        self._prev_stamp = -math.inf
        self._size: tuple[int, int] | None = None
        self._input_shape: tuple[int, ...] | None = None
        self._last_key = -(10**9)
        self._last_reason = -math.inf
        self._births_since_reason = 0
        self._selection = _Selection()
        self._masks: dict[int, np.ndarray] = {}
        self._index = 0  # backends see a new stream: their frame-to-frame state must not carry over
        self._command_stamp = -math.inf
        self._suppressed: list[_Pruned] = []  # pruned tracks, followed at constant velocity for a while
        # Tracks started on a frame without a previous one (no motion cue, no motion seed): the
        # next frame grounds again and starts them afresh from their detection there.
        self._motionless: set[int] = set()
        if self._command is not None:
            self._pending = self._pending or self._command

    def reset(self) -> None:
        """Forget tracks and history and number frames from 0 again; keep the command (it is
        grounded again on the next frame)."""
        self._counters["resets"] += 1
        self._reset_tracking()
        # Detectors may keep a motion history; the protocol does not require a reset, so ask.
        reset_detector = getattr(self.detector, "reset", None)
        if callable(reset_detector):
            reset_detector()

    def close(self) -> None:
        """Stop the background reasoning thread."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=5.0)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, float]:
        """Counters for diagnostics."""
        out = dict(self._counters)
        out["tracks"] = float(len(self.store))
        out["candidates"] = float(sum(1 for i in self.store.info.values() if i.candidate))
        out["window_bytes"] = float(self.store.window_bytes())
        out["selected"] = float(len(self._selection.track_ids))
        return out

    # -- the frame loop ---------------------------------------------------------------------
    def _working(self, image: np.ndarray) -> np.ndarray:
        ww = self.config.engine.working_width
        h, w = image.shape[:2]
        if ww == 0 or w <= ww:
            return image
        return cv2.resize(image, (ww, max(1, round(h * ww / w))), interpolation=cv2.INTER_AREA)

    def push_frame(self, image: np.ndarray, stamp: float, depth: DepthFrame | None = None) -> FrameResult:
        """Process one ``(H, W, 3) uint8`` RGB frame captured at ``stamp`` seconds.

        ``depth``, when given, is aligned to ``image`` (same H, W) and measured at the same time.

        Raises:
            ValueError: the image is not ``(H, W, 3) uint8``, the stamp is not finite, or the
                depth image is not ``(H, W)``.
        """
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got {got}")
        if image.shape[0] < MIN_IMAGE_SIDE or image.shape[1] < MIN_IMAGE_SIDE:
            side = MIN_IMAGE_SIDE
            raise ValueError(f"image too small: {image.shape[1]}x{image.shape[0]} (need >= {side}x{side})")
        if not math.isfinite(stamp):
            raise ValueError(f"stamp must be a finite number of seconds, got {stamp}")
        if depth is not None and depth.depth_m.shape != image.shape[:2]:
            raise ValueError(f"depth {depth.depth_m.shape} is not aligned to the {image.shape[:2]} image")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        small = np.ascontiguousarray(self._working(image))
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        size = (small.shape[1], small.shape[0])
        if self._input_shape is not None and (image.shape != self._input_shape or stamp < self._prev_stamp):
            # Tracks, masks and motion history do not carry over a new image geometry or a time jump.
            LOG.info("frame size changed or time jumped back; restarting tracks")
            self.reset()
        self._size, self._input_shape = size, image.shape
        self._depth = depth.resized(*size) if depth is not None else None
        with self._lock:
            new_command = self._pending
            if new_command is not None:
                self._command, self._pending = new_command, None
        if new_command is not None:
            self._on_new_command(stamp)
        t1 = time.perf_counter()
        timings["resize"] = (t1 - t0) * 1e3

        affine = IDENTITY.copy()
        if self._prev_gray is not None:
            affine = self.ego.estimate(self._prev_gray, gray, prev_points=self._prev_points).affine
        self.store.apply_ego(affine)
        self._suppressed = [p.moved(affine, stamp) for p in self._suppressed if p.expiry >= stamp]
        frame = FrameContext(self._index, stamp, small, gray, self._prev_gray, affine)
        t2 = time.perf_counter()
        timings["ego_motion"] = (t2 - t1) * 1e3

        masks = self._checked(self.segmenter.propagate(frame) if len(self.store) else {}, gray.shape)
        t3 = time.perf_counter()
        timings["propagate"] = (t3 - t2) * 1e3

        phrases = self._phrases()
        scheduled = new_command is not None or self._index - self._last_key >= self._interval()
        # An extra keyframe for tracks started without motion keeps the schedule where it was.
        keyframe = bool(phrases) and (scheduled or bool(self._motionless and frame.prev_gray is not None))
        if keyframe:
            detections = self.detector.detect(frame, phrases)
            t4 = time.perf_counter()
            # Only a keyframe that got its detections moves the schedule: a failed one is retried.
            if scheduled:
                self._last_key = self._index
            self._counters["keyframes"] += 1
            timings["detect"] = (t4 - t3) * 1e3
            born, detection_boxes = self._ground(frame, masks, detections)
            t4b = time.perf_counter()
            timings["associate"] = (t4b - t4) * 1e3
            if self.keyframe_masks is not None:
                found = self.keyframe_masks.masks(image, masks, self._selection.track_ids, born, detection_boxes)
                if found:
                    masks.update(self._checked(self.segmenter.set_masks(frame, found), gray.shape))
                timings["keyframe_masks"] = (time.perf_counter() - t4b) * 1e3
        t5 = time.perf_counter()

        # Two tracks can converge onto one object between keyframes (drift, re-anchoring).
        self._merge_duplicates(masks)
        observations = {}
        for tid, mask in masks.items():
            box = _mask_box(mask)
            if box is not None:
                observations[tid] = (box, float(np.count_nonzero(mask)))
        self.store.update(stamp, observations, self.config.tracking.min_mask_area_px)
        self._expire(stamp, masks)
        self._measure_distances(stamp, masks)
        if keyframe:
            self._keep_crops(small, stamp)
        if self.recorder is not None:
            self.recorder.record(stamp, affine, masks, self.store, small)
        exclude = np.logical_or.reduce(list(masks.values())) if masks else None
        self._prev_points = self.ego.features(gray, exclude)
        self._prev_gray, self._prev_stamp = gray, stamp
        self._masks = masks
        t6 = time.perf_counter()
        timings["store"] = (t6 - t5) * 1e3

        self._maybe_reason(stamp, force=new_command is not None)
        t7 = time.perf_counter()
        timings["reason"] = (t7 - t6) * 1e3
        result = self._result_for(image.shape[:2], stamp, keyframe)
        timings["output"] = (time.perf_counter() - t7) * 1e3
        timings["total"] = (time.perf_counter() - t0) * 1e3
        result.timings_ms = timings
        self._index += 1
        self._counters["frames"] += 1
        return result

    def _measure_distances(self, stamp: float, masks: dict[int, np.ndarray]) -> None:
        """Each visible track's median depth under its mask, into the distance histories."""
        if self._depth is None:
            self._frame_distances = {}
            return
        measured = {tid: median_depth(self._depth.depth_m, mask) for tid, mask in masks.items()}
        self._frame_distances = measured
        self.distances.record(stamp, measured, self.store.info)
        if self.offline_distances is not None:
            self.offline_distances.record(stamp, measured)

    def _checked(self, masks: dict[int, np.ndarray], shape: tuple[int, ...]) -> dict[int, np.ndarray]:
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

    def _interval(self) -> int:
        interval = self.config.engine.keyframe_interval
        # Search more often while nothing is selected, unless the reasoner is still busy with an
        # earlier scene (a slow LLM): more candidates would only wait, at keyframe cost per frame.
        if self._command is not None and not self._selection.track_ids and not self._reasoner_busy:
            return max(1, interval // SEARCH_INTERVAL_DIVISOR)
        return interval

    def _phrases(self) -> tuple[str, ...]:
        if self._command is not None:
            return self._command.parsed.candidates
        idle = self.config.engine.idle_phrase
        return (idle,) if idle else ()

    def _on_new_command(self, stamp: float) -> None:
        # Tracks keep their history but must be grounded again by the new command's phrases.
        for info in self.store.info.values():
            info.candidate = False
            info.score_sum, info.detections, info.keyframes = 0.0, 0, 0  # scores were for other phrases
        self._command_stamp = stamp
        self._suppressed = []
        self._selection = _Selection()
        self._births_since_reason = 0

    def _ground(
        self, frame: FrameContext, masks: dict[int, np.ndarray], detections: list[Detection]
    ) -> tuple[list[int], dict[int, np.ndarray]]:
        """Associate keyframe detections with tracks; start, re-anchor and merge tracks.

        Returns the ids of the tracks started here and the ``(4,)`` xyxy detection box of every
        track matched or started here.
        """
        max_det = self.config.grounding.max_detections
        detections = [d for d in detections if np.all(np.isfinite(d.box))][:max_det]
        ids = self.store.ids
        self.store.count_keyframe(ids)
        predicted = self.store.predict(ids, frame.stamp)
        current = np.full((len(ids), 4), np.nan)
        for i, tid in enumerate(ids):
            box = _mask_box(masks[tid]) if tid in masks else None
            if box is not None:
                current[i] = box
        det_boxes = np.array([d.box for d in detections], float).reshape(-1, 4)
        det_masks = [d.mask if d.mask is not None and d.mask.shape == frame.gray.shape else None for d in detections]
        track_masks = [masks.get(tid) for tid in ids]
        result = associate(predicted, det_boxes, self.config.tracking.iou_gate, current, track_masks, det_masks)
        anchors: dict[int, np.ndarray] = {}
        moving = frame.prev_gray is not None
        boxes: dict[int, np.ndarray] = {}
        born: list[int] = []
        for ti, di, _ in result.matches:
            tid, det = ids[ti], detections[di]
            boxes[tid] = det.box
            self.store.add_detection(tid, det.phrase, det.score, frame.stamp, det.source)
            prop = current[ti]
            # A track not visible on this frame agrees with no box (-1 is below every threshold).
            overlap = -1.0 if np.isnan(prop[0]) else float(iou_matrix(prop, det.box)[0, 0])
            if moving and tid in self._motionless and overlap < RECUT_IOU:
                # Started without motion, a box on a still image was cut by colour alone (a black
                # swan together with dark water): unless the new box agrees with that cut, cut it
                # again now that motion can seed the cut.
                self.segmenter.remove_objects([tid])
                if self.recorder is not None:
                    self.recorder.drop(tid)  # offline: backfilled from the new cut instead
                anchors[tid] = det.box
            elif overlap < self.config.engine.reanchor_iou:
                anchors[tid] = det.box
        if moving:
            self._motionless.clear()
        for det in self._births(detections, result.unmatched_detections):
            tid = self.store.new_track(det.phrase, det.box, det.score, frame.stamp, det.source)
            if tid is None:
                break  # all slots taken: the weakest detections are dropped (they come last)
            anchors[tid] = det.box
            boxes[tid] = det.box
            born.append(tid)
            if not moving:
                self._motionless.add(tid)
            self._counters["births"] += 1
            self._births_since_reason += 1
        if anchors:
            masks.update(self._checked(self.segmenter.add_objects(frame, anchors), frame.gray.shape))
        return born, boxes

    def _births(self, detections: list[Detection], unmatched: list[int]) -> list[Detection]:
        """The unmatched detections that start tracks: strong enough, not just pruned, best first, capped.

        Every track costs propagation time on every frame, so weak detections (below
        ``engine.min_detection_score`` or 0.3 x the keyframe's best) and those covering a track
        the reasoner pruned moments ago start none.
        """
        if not unmatched:
            return []
        ec = self.config.engine
        floor = max(ec.min_detection_score, BIRTH_RELATIVE * max(d.score for d in detections))
        chosen = sorted((detections[i] for i in unmatched if detections[i].score >= floor), key=lambda d: -d.score)
        if self._suppressed and chosen:
            blocked = iou_matrix(np.array([d.box for d in chosen]), np.array([p.box for p in self._suppressed]))
            chosen = [d for d, row in zip(chosen, blocked, strict=True) if row.max() < SUPPRESS_IOU]
        cap = ec.max_births_per_keyframe
        if not self._selection.track_ids or self._selection.ambiguous:
            # Nothing is told apart yet: cast a wider net; pruning trims it once motion is known.
            cap *= SEARCH_BIRTHS_FACTOR
        return chosen[:cap]

    def _prune(self, scores: dict[int, float], selected: tuple[int, ...], stamp: float) -> None:
        """Remove unselected tracks that clearly do not fit the command (after 1 s of evidence)."""
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
        self._suppressed.extend(
            _Pruned(self.store.info[t].box.copy(), self.store.info[t].velocity.copy(), stamp, expiry) for t in dead
        )
        self._counters["pruned"] += len(dead)
        self._remove(dead, self._masks)

    def _merge_duplicates(self, masks: dict[int, np.ndarray]) -> None:
        """Remove the younger of two tracks whose masks overlap by more than ``MERGE_IOU``."""
        ids = [tid for tid in masks if masks[tid].any()]
        if len(ids) < 2:
            return
        boxes = np.array([_mask_box(masks[t]) for t in ids])
        close = np.argwhere(np.triu(iou_matrix(boxes, boxes) > MERGE_IOU * 0.8, k=1))
        dead: set[int] = set()
        for i, j in close.tolist():
            a, b = ids[i], ids[j]
            if a in dead or b in dead:
                continue
            inter = np.count_nonzero(masks[a] & masks[b])
            union = np.count_nonzero(masks[a] | masks[b])
            if union and inter / union > MERGE_IOU:
                old, young = (a, b) if a < b else (b, a)
                self.store.info[old].candidate |= self.store.info[young].candidate
                dead.add(young)
        self._remove(dead, masks)

    def _remove(self, ids: Iterable[int], masks: dict[int, np.ndarray]) -> None:
        ids = list(ids)
        if not ids:
            return
        self.store.remove(ids)
        self.segmenter.remove_objects(ids)
        for tid in ids:
            masks.pop(tid, None)

    def _expire(self, stamp: float, masks: dict[int, np.ndarray]) -> None:
        """Death: unseen for ``lost_after_s``, or not grounded by the command within that time."""
        lost_after = self.config.tracking.lost_after_s
        cmd_stamp = self._command_stamp if self._command is not None else None
        dead = [
            tid
            for tid, info in self.store.info.items()
            if stamp - info.last_seen > lost_after
            or (not info.candidate and cmd_stamp is not None and stamp - max(cmd_stamp, info.born) > lost_after)
        ]
        self._remove(dead, masks)

    def _keep_crops(self, image: np.ndarray, stamp: float) -> None:
        h, w = image.shape[:2]
        for tid, info in self.store.info.items():
            if info.area <= 0 or not info.candidate:
                continue
            x0, y0, x1, y1 = np.round(info.box).astype(int)
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
            if x1 - x0 >= 4 and y1 - y0 >= 4:
                self.store.add_crop(tid, stamp, image[y0:y1, x0:x1])

    # -- reasoning --------------------------------------------------------------------------
    def _scene(self, stamp: float) -> SceneSummary:
        ids = [tid for tid, info in self.store.info.items() if info.candidate]
        trajectories = with_distances(self.store.trajectories(stamp, ids), self.distances)
        visible = [tid for tid in ids if self.store.info[tid].area > 0]
        # Depth of this frame only: a distance from before an occlusion began would mislead.
        distances = np.array([self._frame_distances.get(t, np.nan) for t in visible])
        facts = occlusion_facts(
            visible,
            np.array([self.store.info[t].box for t in visible]).reshape(-1, 4),
            np.array([self.store.info[t].area for t in visible]),
            distances=distances,
        )
        cams = self.store.camera_affines(stamp)
        span = max((float(t.stamps[-1] - t.stamps[0]) for t in trajectories if len(t)), default=0.0)
        size = self._size or (0, 0)
        return SceneSummary(
            trajectories, describe_camera(cams, span, size[0]), facts, size, self.config.engine.window_s, cams
        )

    def _maybe_reason(self, stamp: float, force: bool) -> None:
        cmd = self._command
        if cmd is None:
            return
        interval = self.config.engine.reason_interval_s
        if self._selection.ambiguous or not self._selection.track_ids or self._selection.challenger:
            # Until the choice is clear (or while the reasoner prefers another one, see
            # SWITCH_AFTER_S), re-check often: motion evidence accumulates every frame.
            interval = min(interval, UNCERTAIN_REASON_S)
        # A selected track that died leaves nothing to output until the next reasoning: do it now
        # (at the uncertain rate, not every frame, while a slow reasoner is still answering).
        died = any(t not in self.store.info for t in self._selection.track_ids)
        due = (stamp - self._last_reason >= (UNCERTAIN_REASON_S if died else interval)
               or self._births_since_reason > 0)
        if not (force or due):
            return
        self._last_reason = stamp
        self._births_since_reason = 0
        scene = self._scene(stamp)
        crops = {
            t.track_id: [c for _, c in self.store.info[t.track_id].crops][-self.config.pose.keyframes :]
            for t in scene.trajectories
        }
        job = _Job(cmd.generation, cmd.parsed, scene, crops, stamp)
        if self._async:
            with self._lock:
                self._job = job  # latest wins: an older queued job is replaced, never queued up
                self._wake.notify()
        else:
            result, extra = self._run_job(job)
            self._apply(job.generation, result, extra, stamp)
        self._counters["reasonings"] += 1

    def _reason_loop(self) -> None:
        while True:
            with self._lock:
                while self._job is None and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                job, self._job = self._job, None
                self._reasoner_busy = True
            try:
                result, extra = self._run_job(job)
            except Exception as exc:  # a failing reasoner must not kill the thread: report it in the trace
                LOG.exception("reasoning failed")
                result, extra = ReasoningResult((), f"reasoning failed: {exc}", "error"), {}
            with self._lock:
                self._reasoner_busy = False
                if job.generation == self._generation:  # a newer command preempts this result
                    self._result = (job.generation, result, extra, job.stamp)

    def _run_job(self, job: _Job) -> tuple[ReasoningResult, dict[str, object]]:
        """Motion reasoning, then pose verification when too many candidates remain."""
        t0 = time.perf_counter()
        result = self.reasoner.select(job.command, job.scene)
        valid = {t.track_id for t in job.scene.trajectories}
        result = replace(result, track_ids=tuple(t for t in result.track_ids if t in valid))
        extra: dict[str, object] = {
            "reason_ms": round((time.perf_counter() - t0) * 1e3, 2),
            "candidates": [
                {
                    "id": t.track_id,
                    "phrase": t.phrase,
                    "samples": len(t),
                    "score": round(result.scores.get(t.track_id, 0.0), 3),
                    "detected_by": t.source,
                }
                for t in job.scene.trajectories
            ],
            "camera": job.scene.camera_description,
            "occlusions": [[f.front_id, f.back_id] for f in job.scene.occlusions],
        }
        pose_text = " ".join(job.command.pose)
        if pose_text and result.scores:
            best = max(result.scores.values())
            remain = [t for t, s in result.scores.items() if s >= best - POSE_MARGIN and t in valid]
            if len(remain) > self.config.pose.trigger_above:
                t1 = time.perf_counter()
                pose = self.pose_verifier.score(pose_text, {t: job.crops.get(t, []) for t in remain})
                extra["pose_scores"] = {str(t): round(s, 3) for t, s in pose.items()}
                extra["pose_ms"] = round((time.perf_counter() - t1) * 1e3, 2)
                combined = {t: result.scores[t] * (0.5 + pose.get(t, 0.5)) for t in remain}
                ranked = sorted(combined, key=lambda t: -combined[t])
                card = job.command.cardinality
                keep = [t for t in ranked if pose.get(t, 0.5) >= 0.5] if card == "all" else ranked[: int(card)]
                result = replace(
                    result,
                    track_ids=tuple(keep),
                    rationale=result.rationale + f"; pose '{pose_text}' re-ranked {ranked} -> {keep}",
                    source=f"{result.source}+pose",
                )
        chosen, wholes = wholes_for_parts(result.track_ids, result.scores, job.scene)
        if wholes:
            parts = ", ".join(f"#{p} is a part of #{w}" for p, w in wholes)
            result = replace(result, track_ids=chosen, rationale=f"{result.rationale}; {parts}: the whole chosen")
        not_found = not_found_reason(job.command, job.scene.trajectories, job.crops)
        if not_found is not None:
            extra["not_found"] = not_found
            result = replace(result, track_ids=(), ambiguous=False,
                             rationale=f"{result.rationale}; not found: {not_found}")
        return result, extra

    def _apply(self, generation: int, result: ReasoningResult, extra: dict[str, object], stamp: float) -> None:
        if generation != self._generation or self._command is None:
            return
        live = set(self.store.info)
        new_ids = tuple(t for t in result.track_ids if t in live)
        old = self._selection
        old_ids = tuple(t for t in old.track_ids if t in live)
        scores = result.scores
        same = bool(old.challenger) and set(old.challenger) == set(new_ids)
        challenger, since = (old.challenger, old.challenger_since) if same else (new_ids, stamp)
        keep_old = (
            old_ids
            # A selection out of view (lost) gives way to a visible choice that scores higher.
            and any(self.store.info[t].area > 0 for t in old_ids)
            and set(old_ids) != set(new_ids)
            and all(t in scores for t in old_ids)
            and sum(scores.get(t, 0.0) for t in new_ids) - sum(scores[t] for t in old_ids)
            < self.config.engine.switch_margin
            and len(old_ids) == len(new_ids)
            # Hysteresis against flicker between close scores, not a lock: a choice preferred
            # on every reasoning for SWITCH_AFTER_S wins even by a small margin.
            and stamp - since < SWITCH_AFTER_S
        )
        ids = old_ids if keep_old else new_ids
        raw_score = float(np.mean([scores.get(t, 0.0) for t in ids])) if ids else 0.0
        cmd = self._command
        trace: dict[str, object] = {
            "command": {"text": cmd.parsed.text, "source": cmd.parsed.source, **cmd.parsed.to_dict()},
            "command_id": cmd.command_id,
            "command_stamp": cmd.stamp,
            "rationale": result.rationale
            + (f"; kept {list(old_ids)} (new choice not clearly better)" if keep_old else ""),
            "scores": {str(t): round(s, 3) for t, s in scores.items()},
            "score_raw": raw_score,
            "selected": list(ids),
            "source": result.source,
            "ambiguous": result.ambiguous,
            "reasoned_at": stamp,
            **extra,
        }
        self._selection = _Selection(tuple(ids), calibrated_score(raw_score), result.ambiguous, trace,
                                     not_found=str(extra.get("not_found", "")))
        if keep_old:
            self._selection.challenger, self._selection.challenger_since = challenger, since
        if not result.ambiguous:
            self._prune(scores, tuple(ids), stamp)

    # -- output -----------------------------------------------------------------------------
    def _result_for(self, shape: tuple[int, int], stamp: float, keyframe: bool) -> FrameResult:
        if self._async:
            with self._lock:
                done, self._result = self._result, None
            if done is not None:
                self._apply(done[0], done[1], done[2], done[3])
        cmd = self._command
        h, w = shape
        if cmd is None:
            return FrameResult(self._index, stamp, TargetState.IDLE, np.zeros((h, w), bool), None)
        sel = self._selection
        ids = tuple(t for t in sel.track_ids if t in self.store.info)
        visible = [self._masks[t] for t in ids if t in self._masks and self.store.info[t].area > 0]
        if not ids:
            state = TargetState.NOT_FOUND if sel.not_found else TargetState.SEARCHING
        elif not visible:
            state = TargetState.LOST
        else:
            state = TargetState.AMBIGUOUS if sel.ambiguous else TargetState.TRACKING
        mask = self.upscale(np.logical_or.reduce(visible), (w, h)) if visible else np.zeros((h, w), bool)
        box = _mask_box(mask) if visible else None
        trace = dict(sel.trace) if sel.trace else {"command": {"text": cmd.parsed.text, **cmd.parsed.to_dict()}}
        trace["keyframe"] = keyframe
        points = target_points(self._depth, {t: self._masks[t] for t in ids
                                             if t in self._masks and self.store.info[t].area > 0})
        return FrameResult(self._index, stamp, state, mask, box, ids, sel.score, cmd.command_id, trace,
                           points=points)

    @staticmethod
    def upscale(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """``(h, w) bool`` working-resolution mask -> ``(H, W) bool`` at ``size`` = (W, H)."""
        if (mask.shape[1], mask.shape[0]) == size:
            return mask
        # Linear interpolation then a half threshold gives smooth edges instead of blocky ones.
        up = cv2.resize(mask.view(np.uint8) * np.uint8(255), size, interpolation=cv2.INTER_LINEAR)
        return up > 127


def with_distances(trajectories: list[Trajectory], history: DistanceHistory) -> list[Trajectory]:
    """The trajectories with their measured distances attached (unchanged when nothing was measured)."""
    if not history:
        return trajectories
    return [replace(t, distances=history.at(t.track_id, t.stamps)) for t in trajectories]


def target_points(depth: DepthFrame | None, masks: dict[int, np.ndarray]) -> tuple[TargetPoint, ...]:
    """3D points of ``masks`` (``{track_id: (h, w) bool}`` at ``depth``'s size), those with enough depth."""
    if depth is None:
        return ()
    points = (target_point(depth, mask, tid) for tid, mask in masks.items() if mask.any())
    return tuple(p for p in points if p is not None)


def run_offline(
    engine: Engine, frames: Iterable[np.ndarray], command: str | ParsedCommand, fps: float = 30.0,
    depths: Iterable[DepthFrame | None] | None = None,
) -> list[FrameResult]:
    """Run a whole video, then (``engine.offline_revise``) re-select with the full trajectories.

    The streaming pass is causal; the revision re-runs the reasoner once over every track's
    whole-video trajectory (the paper's offline setting) and rewrites every frame's mask, box and
    state with that selection. Frames are ``(H, W, 3) uint8`` RGB; stamps are ``index / fps``;
    ``depths`` (optional) are the aligned depth frames, one per frame.
    """
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    engine.reset()
    parsed = engine.set_command(command, 0.0)
    engine.recorder = HistoryRecorder()
    engine.offline_distances = DistanceHistory(math.inf, 2**31 - 1)
    results: list[FrameResult] = []
    shapes: list[tuple[int, int]] = []
    depth_frames: list[DepthFrame | None] = []
    depth_iter = iter(depths) if depths is not None else None
    try:
        for i, image in enumerate(frames):
            depth = next(depth_iter, None) if depth_iter is not None else None
            # Engines without depth support keep working on data without depth.
            results.append(engine.push_frame(image, i / fps) if depth is None
                           else engine.push_frame(image, i / fps, depth=depth))
            shapes.append(image.shape[:2])
            depth_frames.append(engine.working_depth)
        recorder, distances = engine.recorder, engine.offline_distances
    finally:
        engine.recorder, engine.offline_distances = None, None
    if not engine.config.engine.offline_revise or not results or len(recorder) != len(results):
        return results
    return _revise(engine, parsed, recorder, results, shapes, distances, depth_frames)


def _revise(
    engine: Engine,
    parsed: ParsedCommand,
    recorder: HistoryRecorder,
    results: list[FrameResult],
    shapes: list[tuple[int, int]],
    distances: DistanceHistory,
    depths: list[DepthFrame | None],
) -> list[FrameResult]:
    ids = recorder.track_ids(recorder.candidates)
    if not ids:
        return results
    trajectories = with_distances(recorder.trajectories(ids), distances)
    scene = SceneSummary(trajectories, "offline: full video", recorder.occlusions(ids), recorder.size,
                         float(recorder.stamps[-1]), whole_video=True)
    result = engine.reasoner.select(parsed, scene)
    chosen, _ = wholes_for_parts(tuple(t for t in result.track_ids if t in set(ids)), result.scores, scene)
    if parsed.cardinality != "all":
        # A target whose track broke (lost, then re-detected as a new track) is one object.
        chosen = recorder.chain(chosen, ids, engine.config.tracking.lost_after_s)
    filled = _backfill(engine, recorder, chosen)
    revised = []
    for i, res in enumerate(results):
        h, w = shapes[i]
        small = recorder.union_mask(i, chosen)
        mask = Engine.upscale(small, (w, h)) if small.any() else np.zeros((h, w), bool)
        box = _mask_box(mask) if small.any() else None
        state = (
            (TargetState.AMBIGUOUS if result.ambiguous else TargetState.TRACKING)
            if box is not None
            else TargetState.LOST
        )
        if not chosen:
            state = TargetState.SEARCHING
        trace = dict(res.trace)
        trace["offline"] = {
            "selected": list(chosen),
            "backfilled_frames": filled,
            "rationale": result.rationale,
            "scores": {str(t): round(s, 3) for t, s in result.scores.items()},
            "streaming_selected": list(res.track_ids),
        }
        scores = [result.scores.get(t, 0.0) for t in chosen]
        points = target_points(depths[i], {t: recorder.union_mask(i, (t,)) for t in chosen}) if small.any() else ()
        revised.append(
            replace(
                res,
                state=state,
                mask=mask,
                box=box,
                track_ids=chosen,
                score=float(np.mean(scores)) if scores else 0.0,
                trace=trace,
                points=points,
            )
        )
    return revised


def _backfill(engine: Engine, recorder: HistoryRecorder, chosen: tuple[int, ...]) -> int:
    """Propagate each selected track backwards from its first frame (offline only).

    A target is often grounded only once it has moved (a keyframe or two in); with the whole video
    at hand its mask can be carried back to the frames before that, as the paper's bidirectional
    SAM2 propagation does. Stops at a frame where the mask vanishes or where another selected
    track already covers it. Returns the number of frames filled.
    """
    filled = 0
    for tid in chosen:
        first, _ = recorder.span(tid)
        if first == 0:
            continue
        engine.segmenter.reset()
        frame = recorder.context(first)
        engine.segmenter.add_objects(frame, {tid: recorder.boxes[first][tid][0]})
        for k, i in enumerate(range(first - 1, -1, -1)):
            # Backwards: the "previous" frame is the later one and the camera motion is inverted.
            ctx = recorder.context(i, index=first + 1 + k, prev=i + 1)
            mask = engine.segmenter.propagate(ctx).get(tid)
            if mask is None or np.count_nonzero(mask) < max(1, engine.config.tracking.min_mask_area_px):
                break
            covered = recorder.union_mask(i, chosen)
            if np.count_nonzero(covered & mask) > 0.5 * np.count_nonzero(mask):
                break
            recorder.add_mask(i, tid, mask)
            filled += 1
    engine.reset()  # the segmenter's state now belongs to the backward pass
    return filled
