"""The streaming engine: ``set_command()`` then ``push_frame()`` per camera frame (see the package
docstring for the steps of a frame)."""

from __future__ import annotations

import logging
import math
import time

import cv2
import numpy as np

from parse_vos_ros import backends
from parse_vos_ros.config import Config
from parse_vos_ros.context.depth import DepthFrame
from parse_vos_ros.engine.candidates import Candidates, mask_boxes
from parse_vos_ros.engine.commands import Command, CommandSlot
from parse_vos_ros.engine.intake import FrameIntake, check_input
from parse_vos_ros.engine.keyframes import Keyframer
from parse_vos_ros.engine.output import frame_result
from parse_vos_ros.engine.reasoning import ReasoningJob, ReasoningOutcome, failed, reason
from parse_vos_ros.engine.scene import DepthMeasures, newest_crops, scene_summary
from parse_vos_ros.engine.schedule import KeyframeSchedule, ReasonSchedule
from parse_vos_ros.engine.selection import Selection, choose
from parse_vos_ros.engine.worker import Worker, ms_since
from parse_vos_ros.grounding.vocabulary import detection_phrases
from parse_vos_ros.parsing.base import CommandParseError, CommandParser
from parse_vos_ros.parsing.schema import validate_parsed
from parse_vos_ros.tracking.keyframe_masks import KeyframeMasks
from parse_vos_ros.tracking.store import HistoryRecorder, TrackStore
from parse_vos_ros.types import FrameContext, FrameResult, ParsedCommand

LOG = logging.getLogger(__name__)
SETTLE_TIMEOUT_S = 5.0  # the longest ``settle`` waits for background work by default


class Engine:
    """Streaming referring segmentation over a camera stream (see the package docstring).

    ``set_command`` / ``clear_command`` may be called from any thread; ``push_frame``, ``reset``
    and ``stats`` belong to the one thread that feeds frames.

    Args:
        config: the validated configuration.
        detector, segmenter, parser, reasoner, pose_verifier: backends; each defaults to the one
            ``parse_vos_ros.backends`` builds from ``config`` (the parser only when a text command
            arrives).
        async_reasoning: run the reasoner and pose verifier in a background thread so
            ``push_frame`` never waits for them; a new command discards an in-flight result.
        async_keyframes: run keyframe detection and keyframe masks in a background thread
            (``keyframes.py``); None: ``engine.async_keyframes``.
    """

    def __init__(self, config: Config, *, detector=None, segmenter=None, parser=None, reasoner=None,
                 pose_verifier=None, async_reasoning: bool = False, async_keyframes: bool | None = None) -> None:
        self.config = config
        ec = config.engine
        if ec.opencv_threads:  # process-wide; one thread leaves the other core to the keyframe worker
            cv2.setNumThreads(ec.opencv_threads)
        detector = detector if detector is not None else backends.build_detector(config)
        self.segmenter = segmenter if segmenter is not None else backends.build_segmenter(config)
        self.reasoner = reasoner if reasoner is not None else backends.build_reasoner(config)
        self.pose_verifier = pose_verifier if pose_verifier is not None else backends.build_pose_verifier(config)
        # Keyframe target masks re-anchor the segmenter through its ``set_masks``; without one (a
        # test double) or with ``tracking.keyframe_masks: none``, propagation alone carries the masks.
        self.keyframe_masks = KeyframeMasks.from_config(config) if hasattr(self.segmenter, "set_masks") else None
        self._parser = parser
        self.store = TrackStore(ec.max_tracks, ec.max_history_samples, ec.window_s, ec.max_crops_per_track)
        self.intake = FrameIntake(ec.working_width)
        self.candidates = Candidates(config, self.store, self.segmenter)
        self.depths = DepthMeasures(ec.window_s, ec.max_history_samples)
        self.keyframes = KeyframeSchedule(ec.keyframe_interval)
        self.reasons = ReasonSchedule(ec.reason_interval_s)
        self.recorder: HistoryRecorder | None = None  # the whole-video history, set by run_offline
        self._commands = CommandSlot()
        cancel = getattr(self.reasoner, "cancel", None)
        self._worker: Worker[ReasoningJob, ReasoningOutcome] = Worker(
            "parse-vos-reasoner", self._reason_job, async_reasoning, failed, cancel if callable(cancel) else None)
        threaded = ec.async_keyframes if async_keyframes is None else async_keyframes
        self.keyframer = Keyframer(detector, self.keyframe_masks, self.candidates, self.keyframes, threaded,
                                   ec.keyframe_worker_nice)
        self._counts = dict.fromkeys(("frames", "keyframes", "reasonings", "resets"), 0)
        self._reset_tracking()

    @property
    def detector(self):
        """The ``Detector`` backend (replaceable: the stage probe of the evaluation wraps it)."""
        return self.keyframer.detector

    @detector.setter
    def detector(self, detector) -> None:
        self.keyframer.detector = detector

    # -- commands ---------------------------------------------------------------------------
    @property
    def parser(self) -> CommandParser:
        """The command parser (built from the config on first use)."""
        if self._parser is None:
            self._parser = backends.build_parser(self.config)
        return self._parser

    def set_command(self, command: str | ParsedCommand, stamp: float | None = None,
                    command_id: str = "") -> ParsedCommand:
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
        self._worker.invalidate(self._commands.set(parsed, command_id, stamp))
        return parsed

    def clear_command(self) -> None:
        """Drop the command (tracks and history are kept)."""
        self._worker.invalidate(self._commands.clear())

    @property
    def command(self) -> ParsedCommand | None:
        """The active command, or None."""
        return self._commands.current

    @property
    def working_depth(self) -> DepthFrame | None:
        """The last frame's depth at the working resolution (None without depth)."""
        return self.intake.depth

    @property
    def track_masks(self) -> dict[int, np.ndarray]:
        """Every live candidate track's mask on the last frame: ``{track_id: (h, w) bool}`` at the
        working resolution (``engine.working_width``), for inspection; the caller must not modify them."""
        return dict(self._masks)

    # -- lifecycle --------------------------------------------------------------------------
    def _reset_tracking(self) -> None:
        self.candidates.reset()
        self.depths.clear()
        self.intake.reset()  # backends see a new stream: their frame-to-frame state must not carry over
        self.keyframes.reset()
        self.reasons.reset()
        self.keyframer.reset()
        self._selection = Selection()
        self._masks: dict[int, np.ndarray] = {}
        self._command_stamp = -math.inf  # when the active command took effect (s)
        self._commands.regrounded()

    def reset(self) -> None:
        """Forget tracks and history and number frames from 0 again; keep the command (it is
        grounded again on the next frame)."""
        self._counts["resets"] += 1
        self._reset_tracking()
        # Detectors may keep a motion history; the protocol does not require a reset, so ask.
        reset_detector = getattr(self.detector, "reset", None)
        if callable(reset_detector):
            reset_detector()

    def settle(self, timeout_s: float = SETTLE_TIMEOUT_S) -> bool:
        """Wait up to ``timeout_s`` (s) until the background threads run no work (True when
        none runs): between an evaluation's clips, so each starts as on a fresh engine."""
        deadline = time.monotonic() + timeout_s
        return self.keyframer.settle(timeout_s) and self._worker.settle(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Stop the background threads."""
        self._worker.close()
        self.keyframer.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, float]:
        """Counters for diagnostics."""
        out = {k: float(v) for k, v in self._counts.items()}
        out["births"] = float(self.candidates.births)
        out["pruned"] = float(self.candidates.pruned)
        out["tracks"] = float(len(self.store))
        out["candidates"] = float(sum(1 for i in self.store.info.values() if i.candidate))
        out["window_bytes"] = float(self.store.window_bytes())
        out["selected"] = float(len(self._selection.track_ids))
        return out

    # -- the frame loop ---------------------------------------------------------------------
    def push_frame(self, image: np.ndarray, stamp: float, depth: DepthFrame | None = None) -> FrameResult:
        """Process one ``(H, W, 3) uint8`` RGB frame captured at ``stamp`` seconds.

        ``depth``, when given, is aligned to ``image`` (same H, W) and measured at the same time.

        Raises:
            ValueError: the image is not ``(H, W, 3) uint8``, the stamp is not finite, or the
                depth image is not ``(H, W)``.
        """
        check_input(image, stamp, depth)
        timings: dict[str, float] = {}
        t = t0 = time.perf_counter()
        # 1. Intake: a new image geometry or a time jump restarts tracks, masks and motion history.
        restart = self.intake.restart(image, stamp)
        if restart is not None:
            LOG.info(restart.message)
            self.reset()
        small, gray = self.intake.take(image, stamp, depth)
        update = self._commands.take()
        if update.changed or update.new is not None:
            self._selection = Selection()  # made for another command (or none)
        if update.new is not None:
            self.keyframer.new_epoch()
            if self.keyframe_masks is not None:
                self.keyframe_masks.set_phrases(update.new.parsed.candidates)
            self.candidates.regrounded(update.new.parsed.candidates)
            self._command_stamp = stamp
            self.reasons.births = 0
        command = update.active
        # What the selection decides for this frame, read once: the keyframe rate and birth cap.
        selection = self._selection
        search_faster = command is not None and not selection.track_ids and not self._worker.busy
        timings["resize"], t = ms_since(t), time.perf_counter()

        # 2. Ego-motion: every stored box moves into this frame's pixels.
        frame = self.intake.context(small, gray, stamp)
        self.candidates.carry(frame.ego_affine, stamp)
        timings["ego_motion"], t = ms_since(t), time.perf_counter()

        # 3. Propagation of every track's mask.
        masks = self.candidates.propagate(frame)
        timings["propagate"], t = ms_since(t), time.perf_counter()

        # 4. Keyframe: detection, association, births, keyframe masks.
        keyframe = self._keyframe(image, frame, masks, command, update.new is not None, search_faster, selection,
                                  timings)
        t = time.perf_counter()

        # 5. Candidates: merge, record, expire; depth, crops, history; the next frame's ego-motion features.
        boxes = mask_boxes(masks)  # once for both
        self.candidates.merge(masks, boxes)
        self.candidates.observe(stamp, masks, boxes)
        self.candidates.expire(stamp, masks, self._command_stamp if command is not None else None)
        self.depths.measure(stamp, self.intake.depth, masks, self.store)
        if keyframe:
            self.candidates.keep_crops(small, stamp)
        if self.recorder is not None:
            self.recorder.record(stamp, frame.ego_affine, masks, self.store, small)
        self.intake.finish(frame, np.logical_or.reduce(list(masks.values())) if masks else None)
        self._masks = masks
        timings["store"], t = ms_since(t), time.perf_counter()

        # 6. Reasoning: submit when due, apply the newest finished outcome (selection, pruning).
        self._reason(stamp, command, selection, force=update.new is not None)
        timings["reason"], t = ms_since(t), time.perf_counter()

        # 7. Output at the input resolution.
        result = self._output(frame.index, stamp, image.shape[:2], keyframe, command)
        timings["output"] = ms_since(t)
        timings["total"] = ms_since(t0)
        result.timings_ms = timings
        result.restart = restart
        self._counts["frames"] += 1
        return result

    def _keyframe(self, image: np.ndarray, frame: FrameContext, masks: dict[int, np.ndarray],
                  command: Command | None, new_command: bool, search_faster: bool, selection: Selection,
                  timings: dict[str, float]) -> bool:
        """Step 4; returns whether detections were applied on this frame (``masks`` updated)."""
        phrases = command.parsed.candidates if command is not None else self._idle_phrases()
        asked = detection_phrases(phrases, command.parsed.pose) if command is not None else ()
        grounding = self.keyframer.step(image, frame, masks, phrases, new_command, search_faster, selection,
                                        self.recorder, timings, asked)
        if grounding is None:
            return False
        self._counts["keyframes"] += 1
        self.reasons.births += len(grounding.born)
        return True

    def _idle_phrases(self) -> tuple[str, ...]:
        # Without a command the idle phrase is grounded, so a new command is answered at once
        # from the motion history already in the window.
        idle = self.config.engine.idle_phrase
        return (idle,) if idle else ()

    # -- reasoning and output ---------------------------------------------------------------
    def _reason(self, stamp: float, command: Command | None, selection: Selection, force: bool) -> None:
        """Submit a reasoning job when due (or ``force``), then apply the newest finished outcome."""
        if command is not None:
            died = any(t not in self.store.info for t in selection.track_ids)
            if force or self.reasons.due(stamp, selection.uncertain, died):
                self.reasons.done(stamp)
                scene = scene_summary(self.store, self.depths, stamp, self.intake.size or (0, 0),
                                      self.config.engine.window_s)
                crops = newest_crops(self.store, scene, self.config.pose.keyframes)
                self._worker.submit(ReasoningJob(command.generation, command.parsed, scene, crops, stamp))
                self._counts["reasonings"] += 1
        outcome = self._worker.poll()
        if outcome is not None and command is not None and outcome.generation == self._commands.generation:
            self._selection = choose(self._selection, outcome, self.store.info, command,
                                     self.config.engine.switch_margin)
            if not outcome.result.ambiguous:
                self.candidates.prune(outcome.result.scores, self._selection.track_ids, outcome.stamp, self._masks)

    def _reason_job(self, job: ReasoningJob) -> ReasoningOutcome:
        return reason(job, self.reasoner, self.pose_verifier, self.config.pose.trigger_above)

    def _output(self, index: int, stamp: float, shape: tuple[int, int], keyframe: bool,
                command: Command | None) -> FrameResult:
        return frame_result(index, stamp, shape, keyframe, command, self._selection, self.store.info,
                            self._masks, self.intake.depth, self.depths.frame)  # medians measured in step 5
