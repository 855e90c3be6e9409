"""The engine's parts on their own: the worker, the command slot, the motion log, geometry, and the
engine with keyframe work in a worker thread."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from engine_doubles import RedBlobDetector, RedBlobSegmenter, iou, two_balls

from parse_vos_ros.config import load_config
from parse_vos_ros.engine import Engine
from parse_vos_ros.engine.births import to_cut
from parse_vos_ros.engine.candidates import Candidates, detected_as
from parse_vos_ros.engine.carry import MotionLog, carried_masks, followed_box, tracks_on
from parse_vos_ros.engine.commands import CommandSlot
from parse_vos_ros.engine.reasoning import ReasoningJob, reason
from parse_vos_ros.engine.worker import Worker
from parse_vos_ros.geometry import is_one_of, mask_box, nms, overlap_matrix, resize_to_width, upscale_mask
from parse_vos_ros.tracking.embedded import EmbeddedSegmenter
from parse_vos_ros.tracking.store import TrackStore
from parse_vos_ros.types import (
    Detection,
    FrameContext,
    ParsedCommand,
    ReasoningResult,
    SceneSummary,
    TargetState,
    Trajectory,
)

RIGHT = ParsedCommand("the ball moving to the right", ("ball",), motion=("moving", "to the right"))


@dataclass(frozen=True)
class _Job:
    generation: int
    value: int


def _failed(job: _Job, exc: Exception) -> int:
    return -1


def first_outcome(worker: Worker[_Job, int], timeout_s: float = 5.0) -> int | None:
    """Poll ``worker`` until its submitted job's outcome comes (None after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    outcome = None
    while outcome is None and time.monotonic() < deadline:
        time.sleep(0.001)
        outcome = worker.poll()
    return outcome


def test_threaded_worker_latest_wins_and_drops_stale_generations() -> None:
    gate = threading.Event()
    seen: list[int] = []

    def run(job: _Job) -> int:
        gate.wait(5.0)
        seen.append(job.value)
        return job.value * 10

    worker: Worker[_Job, int] = Worker("test-worker", run, threaded=True, failed=_failed)
    try:
        worker.submit(_Job(0, 1))  # runs, held at the gate
        deadline = time.monotonic() + 5.0
        while not worker.busy and time.monotonic() < deadline:
            time.sleep(0.001)
        assert worker.busy and not worker.idle
        worker.submit(_Job(0, 2))
        worker.submit(_Job(0, 3))  # replaces 2, which never runs
        gate.set()
        outcomes = []
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.001)
            outcome = worker.poll()
            if outcome is not None:
                outcomes.append(outcome)
        time.sleep(0.01)
        last = worker.poll()
        outcomes += [last] if last is not None else []
        assert seen == [1, 3] and outcomes[-1] == 30
        gate.clear()
        worker.submit(_Job(0, 4))
        while not worker.busy and time.monotonic() < deadline:
            time.sleep(0.001)
        worker.invalidate(1)  # the job in flight belongs to generation 0
        gate.set()
        while worker.busy and time.monotonic() < deadline:
            time.sleep(0.001)
        assert worker.poll() is None and worker.idle
    finally:
        gate.set()
        worker.close()


def test_settle_waits_for_the_job_in_flight_and_no_longer() -> None:
    """``settle`` (between two streams) returns once the running job is done, False when it is
    not done in time; an idle or inline worker is settled at once."""
    gate = threading.Event()
    worker: Worker[_Job, int] = Worker("test-settle", lambda job: gate.wait(5.0) and job.value, threaded=True,
                                       failed=_failed)
    try:
        assert worker.settle(0.0)
        worker.submit(_Job(0, 1))
        assert not worker.settle(0.05)  # held at the gate
        worker.invalidate(1)  # a reset: its outcome will be dropped, the job still runs
        threading.Timer(0.05, gate.set).start()
        started = time.monotonic()
        assert worker.settle(5.0) and time.monotonic() - started < 2.0
        assert not worker.busy and worker.poll() is None
    finally:
        gate.set()
        worker.close()
    inline: Worker[_Job, int] = Worker("test-settle-inline", lambda job: job.value, threaded=False, failed=_failed)
    assert inline.settle(0.0)


def test_inline_worker_runs_in_submit_and_lets_errors_through() -> None:
    def run(job: _Job) -> int:
        if job.value < 0:
            raise RuntimeError("broken backend")
        return job.value

    worker: Worker[_Job, int] = Worker("test-inline", run, threaded=False, failed=_failed)
    worker.submit(_Job(0, 7))
    assert worker.poll() == 7 and worker.poll() is None
    with pytest.raises(RuntimeError, match="broken backend"):
        worker.submit(_Job(0, -1))


def test_threaded_worker_reports_a_failure_as_an_outcome() -> None:
    def run(job: _Job) -> int:
        raise RuntimeError("broken backend")

    worker: Worker[_Job, int] = Worker("test-failing", run, threaded=True, failed=_failed)
    try:
        worker.submit(_Job(0, 1))
        outcome = first_outcome(worker)
        assert outcome == -1
    finally:
        worker.close()


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread nice values are a Linux feature")
def test_threaded_worker_runs_the_given_nice_steps_below_its_maker() -> None:
    def run(job: _Job) -> int:  # the nice value of the thread the job runs on
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    worker: Worker[_Job, int] = Worker("test-nice", run, threaded=True, failed=_failed, nice=3)
    try:
        worker.submit(_Job(0, 1))
        outcome = first_outcome(worker)
        assert outcome == min(19, mine + 3)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller's is untouched
    finally:
        worker.close()


def test_command_slot_takes_set_and_clear_once() -> None:
    slot = CommandSlot()
    assert not slot.take().changed
    gen = slot.set(RIGHT, "c1", 1.0)
    update = slot.take()
    assert update.changed and update.new is not None and update.new.generation == gen
    assert update.active is update.new and slot.current is RIGHT
    again = slot.take()
    assert not again.changed and again.new is None and again.active is update.new
    slot.regrounded()
    assert slot.take().new is update.new  # grounded afresh after a reset, same generation
    slot.clear()
    cleared = slot.take()
    assert cleared.changed and cleared.active is None and slot.current is None


def test_motion_log_composes_the_camera_motion_since_a_frame() -> None:
    log = MotionLog()
    shift = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])
    for k in range(1, 5):
        log.add(k, shift)
    np.testing.assert_allclose(log.since(1), [[1, 0, 6], [0, 1, -3]])
    np.testing.assert_allclose(log.since(4), np.eye(2, 3))
    log.clear()
    assert log.since(1) is None
    mask = np.zeros((20, 20), bool)
    mask[5:10, 5:10] = True
    camera = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 2.0]])
    moved = carried_masks({1: mask}, {1: mask}, {1: np.roll(mask, (2, 3), axis=(0, 1))}, camera, 0)[1]
    np.testing.assert_array_equal(mask_box(moved), [8, 7, 13, 12])  # the object moved with the camera
    still = np.roll(mask, (2, 1), axis=(0, 1))  # the object itself moved 2 px left of the camera's shift
    moved = carried_masks({1: mask}, {1: mask}, {1: still}, camera, 0)[1]
    np.testing.assert_array_equal(mask_box(moved), [6, 7, 11, 12])
    assert carried_masks({1: mask}, {1: mask}, {}, camera, 0) == {}  # no longer visible
    # The segmenter's flows, when it keeps them for the span, carry the mask instead.
    flowed = np.roll(mask, (4, 4), axis=(0, 1))
    assert carried_masks({1: mask}, {1: mask}, {1: still}, camera, 0, lambda i, m, t, p: flowed)[1] is flowed
    moved = carried_masks({1: mask}, {1: mask}, {1: still}, camera, 0, lambda i, m, t, p: None)[1]
    np.testing.assert_array_equal(mask_box(moved), [6, 7, 11, 12])  # not kept: camera and centroid


def test_geometry_hand_values() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], float)
    assert list(nms(boxes, np.array([0.5, 0.9, 0.8]), 0.5)) == [1, 2]
    overlap = overlap_matrix(boxes)
    assert overlap[0, 1] == pytest.approx(1.0) and overlap[0, 2] == 0.0 and overlap[0, 0] == 0.0
    mask = np.zeros((8, 8), bool)
    assert mask_box(mask) is None
    mask[2:4, 3:6] = True
    np.testing.assert_array_equal(mask_box(mask), [3, 2, 6, 4])
    image = np.zeros((100, 200, 3), np.uint8)
    assert resize_to_width(image, 50).shape == (25, 50, 3) and resize_to_width(image, 0) is image
    big = upscale_mask(mask, (16, 16))
    np.testing.assert_array_equal(mask_box(big), [6, 4, 12, 8])
    assert cv2.countNonZero(big.view(np.uint8)) == 24


def test_async_keyframes_track_the_target_with_detections_of_earlier_frames() -> None:
    """With detection in a worker, the stream's first frame is grounded on itself (nothing to carry
    a late keyframe onto); every later keyframe is applied a few frames after the frame it was
    made on, carried by the camera motion, and the engine still follows the ball moving right."""
    clip = two_balls(n=60, pan_px=1.0)
    config = load_config(None, {"engine.async_keyframes": True})

    class SlowDetector(RedBlobDetector):
        def detect(self, frame, phrases):  # type: ignore[no-untyped-def]
            time.sleep(0.03)  # a keyframe takes longer than a frame
            return super().detect(frame, phrases)

    with Engine(config, detector=SlowDetector(), segmenter=RedBlobSegmenter()) as engine:
        engine.set_command(RIGHT)
        results = []
        for i, frame in enumerate(clip.frames):
            results.append(engine.push_frame(frame, i / clip.fps))
            time.sleep(0.01)  # a camera's frame period (short, to keep the test fast)
        lags = [r.timings_ms["keyframe_latency_frames"] for r in results if "keyframe_latency_frames" in r.timings_ms]
    assert lags and min(lags) >= 1  # applied on a later frame than the one detected on
    assert results[0].timings_ms["detect"] > 0.0  # the first frame, inline
    assert all(r.timings_ms.get("detect", 0.0) == 0.0 for r in results[1:])  # no detection on the frame path
    ious = np.array([iou(r.mask, clip.masks[0][i]) for i, r in enumerate(results)])
    assert (ious[15:] > 0.7).mean() >= 0.85, ious
    assert results[-1].state is TargetState.TRACKING


def test_async_keyframes_never_wait_for_a_running_keyframe() -> None:
    """While the worker's detection hangs, frames keep coming back, and the keyframes due meanwhile
    are skipped, not queued: once it is released, the one detection runs out and the next
    keyframe is made on a frame after the release, not on one of the frames that came meanwhile
    (the stream's first frame is grounded inline, before the hold)."""
    clip = two_balls(n=40)
    config = load_config(None, {"engine.async_keyframes": True, "engine.keyframe_interval": 2})
    release = threading.Event()

    class HeldDetector(RedBlobDetector):
        def __init__(self) -> None:
            super().__init__()
            self.frames: list[int] = []

        def detect(self, frame, phrases):  # type: ignore[no-untyped-def]
            self.frames.append(frame.index)
            assert frame.index == 0 or release.wait(timeout=10.0)
            return super().detect(frame, phrases)

    detector = HeldDetector()
    with Engine(config, detector=detector, segmenter=RedBlobSegmenter()) as engine:
        engine.set_command(RIGHT)
        held = [engine.push_frame(frame, i / clip.fps) for i, frame in enumerate(clip.frames[:20])]
        assert detector.frames == [0, 1]  # 18 frames with keyframes due, none queued behind the running one
        assert len(held) == 20 and "keyframe_latency_frames" not in held[-1].timings_ms  # none applied yet
        release.set()
        results = []
        for i in range(20, 40):
            results.append(engine.push_frame(clip.frames[i], i / clip.fps))
            time.sleep(0.01)
    applied = [r.timings_ms["keyframe_latency_frames"] for r in results if "keyframe_latency_frames" in r.timings_ms]
    assert applied and applied[0] >= 19  # the detection of frame 1, carried over 19+ frames
    assert len(detector.frames) >= 3 and all(k >= 20 for k in detector.frames[2:])
    assert results[-1].state is TargetState.TRACKING




def test_the_worker_cuts_the_likely_births() -> None:
    """Each track's mask box takes the detection it overlaps most (one each, above the gate); of
    the rest, the strong ones are the likely births, best first and capped."""
    config = load_config(None, {"engine.max_births_per_keyframe": 2})
    masks = {1: np.zeros((100, 100), bool)}
    masks[1][10:30, 10:30] = True
    dets = [
        Detection(np.array([10.0, 10.0, 30.0, 30.0]), 0.9, "ball"),  # taken by track 1
        Detection(np.array([12.0, 12.0, 32.0, 32.0]), 0.8, "ball"),  # overlaps track 1, which is taken
        Detection(np.array([60.0, 60.0, 80.0, 80.0]), 0.85, "ball"),
        Detection(np.array([60.0, 10.0, 80.0, 30.0]), 0.1, "ball"),  # below 0.3 x the best
        Detection(np.array([40.0, 40.0, 50.0, 50.0]), 0.7, "ball"),
    ]
    assert to_cut(dets, masks, config, wide=False) == [2, 1]
    assert to_cut(dets, masks, config, wide=True) == [2, 1, 4]
    assert to_cut(dets, {}, config, wide=True) == [0, 2, 1, 4]


def test_a_late_box_follows_its_track_since_its_frame() -> None:
    """A box of frame t moves by the shift of its track's mask box centre from then to now; it
    stays where it was when the track was not visible then or is not now."""
    box = np.array([14.0, 10.0, 34.0, 30.0])
    then = np.array([14.0, 10.0, 24.0, 30.0])
    np.testing.assert_allclose(followed_box(box, then, np.array([24.0, 14.0, 34.0, 36.0])), [24, 15, 44, 35])
    np.testing.assert_array_equal(followed_box(box, then, None), box)
    np.testing.assert_array_equal(followed_box(box, np.full(4, np.nan), then), box)


class _Cuts(RedBlobSegmenter):
    """The red-blob segmenter, recording the boxes objects were cut from."""

    def __init__(self) -> None:
        super().__init__()
        self.cut: list[dict[int, list[float]]] = []

    def add_objects(self, frame, boxes):  # type: ignore[no-untyped-def]
        self.cut.append({oid: np.asarray(b, float).tolist() for oid, b in boxes.items()})
        return super().add_objects(frame, boxes)


def _square(index: int, x0: int, prev: FrameContext | None) -> FrameContext:
    """A 100x60 frame with a red 20x20 square whose left edge is at ``x0`` (px)."""
    image = np.zeros((60, 100, 3), np.uint8)
    image[10:30, x0:x0 + 20] = (220, 30, 30)
    gray = image.mean(axis=2).astype(np.uint8)
    return FrameContext(index, index / 30.0, image, gray, prev_gray=None if prev is None else prev.gray)


def test_a_late_detection_recuts_a_track_where_its_object_is_now() -> None:
    """A track started on a still frame is cut again from its next detection. A detection made on
    an earlier frame (async keyframes) is cut where the object has gone since, moved by its track's
    own motion: cut from the old box, the square that moved 10 px right would be half lost."""
    config = load_config(None)
    store = TrackStore(8, 16, 10.0)
    seg = _Cuts()
    candidates = Candidates(config, store, seg)
    first = _square(0, 14, None)
    masks: dict[int, np.ndarray] = {}
    (tid,) = candidates.ground(first, masks, [Detection(np.array([14.0, 10.0, 34.0, 30.0]), 0.9, "ball")],
                               wide=True, recorder=None).born
    sliver = np.zeros((60, 100), bool)
    sliver[10:30, 14:24] = True  # the track's mask on the detections' frame: half the square
    detected_on = _square(1, 14, first)
    then = tracks_on(detected_on, {tid: sliver}, [tid])
    now = _square(3, 24, detected_on)
    masks = {tid: np.roll(sliver, 10, axis=1)}  # the half moved with the square
    other = Detection(np.array([70.0, 35.0, 90.0, 55.0]), 0.8, "ball")
    grounding = candidates.ground(now, masks, [Detection(np.array([14.0, 10.0, 34.0, 30.0]), 0.9, "ball"), other],
                                  wide=False, recorder=None, then=then)
    assert seg.cut[-1][tid] == [24.0, 10.0, 44.0, 30.0]
    np.testing.assert_array_equal(mask_box(masks[tid]), [24, 10, 44, 30])
    # The keyframe's class masks go to the track cut again before the one just started.
    assert grounding.recut == [tid] and grounding.fresh == (tid, *grounding.born) and len(grounding.born) == 1


class _Spy(EmbeddedSegmenter):
    """The embedded segmenter, recording where objects were cut from boxes and started from cuts."""

    def __init__(self, config) -> None:  # type: ignore[no-untyped-def]
        super().__init__(EmbeddedSegmenter.from_config(config).params)
        self.cut_boxes: list[int] = []  # frames the frame loop cut boxes on
        self.started: list[int] = []

    def add_objects(self, frame, boxes):  # type: ignore[no-untyped-def]
        self.cut_boxes.append(frame.index)
        return super().add_objects(frame, boxes)

    def start_objects(self, frame, masks):  # type: ignore[no-untyped-def]
        self.started += list(masks)
        return super().start_objects(frame, masks)


def test_async_keyframes_start_tracks_from_the_workers_cuts() -> None:
    """A ball the detector finds only later starts a track from the cut the worker made on the
    detection's frame, moved to the present by the segmenter's flows: the frame loop cuts no box
    after the stream's first frame, and the late track follows that ball, the one the command names."""
    clip = two_balls(n=50, pan_px=1.0)
    config = load_config(None, {"engine.async_keyframes": True})

    class LateSecondBall(RedBlobDetector):
        def detect(self, frame, phrases):  # type: ignore[no-untyped-def]
            found = sorted(super().detect(frame, phrases), key=lambda d: d.box[0])
            return found if frame.index >= 15 else found[:1]  # the right ball only from frame 15

    seg = _Spy(config)
    with Engine(config, detector=LateSecondBall(), segmenter=seg) as engine:
        engine.set_command(ParsedCommand("the ball moving to the left", ("ball",), motion=("moving", "to the left")))
        for i, frame in enumerate(clip.frames):
            result = engine.push_frame(frame, i / clip.fps)
            time.sleep(0.01)
        masks = engine.track_masks
    assert seg.cut_boxes == [0] and seg.started
    late = seg.started[0]
    assert late in masks and iou(masks[late], clip.masks[1][-1]) > 0.6
    assert iou(result.mask, clip.masks[1][-1]) > 0.6


def test_a_new_command_is_answered_from_the_window_before_its_keyframe() -> None:
    """Tracks of the kind a new command names stay candidates until its first keyframe: it is
    answered from their history while that keyframe's detection still runs. A command naming
    another kind waits for its detections (searching)."""
    clip = two_balls(n=40, pan_px=1.0)
    config = load_config(None, {"engine.async_keyframes": True})
    release = threading.Event()
    release.set()

    class GatedDetector(RedBlobDetector):
        def detect(self, frame, phrases):  # type: ignore[no-untyped-def]
            assert release.wait(timeout=10.0)
            return super().detect(frame, phrases)

    left = ParsedCommand("the ball moving to the left", ("ball",), motion=("moving", "to the left"))
    with Engine(config, detector=GatedDetector(), segmenter=RedBlobSegmenter()) as engine:
        engine.set_command(RIGHT)
        for i in range(30):
            first = engine.push_frame(clip.frames[i], i / clip.fps)
            time.sleep(0.01)
        assert first.state is TargetState.TRACKING and iou(first.mask, clip.masks[0][29]) > 0.6
        release.clear()  # the new command's keyframe hangs in the worker
        engine.set_command(left)
        answer = engine.push_frame(clip.frames[30], 30 / clip.fps)
        assert answer.state is TargetState.TRACKING and iou(answer.mask, clip.masks[1][30]) > 0.6
        engine.set_command(ParsedCommand("the dog", ("dog",)))
        other = engine.push_frame(clip.frames[31], 31 / clip.fps)
        assert other.state is TargetState.SEARCHING and not other.mask.any()
        release.set()


def test_a_new_command_keeps_the_tracks_detected_as_its_kind() -> None:
    """Tracks grounded for the idle phrase ("object") or an earlier command stay candidates of a
    new command when their detector named its kind (the class in ``source``), else by phrase."""
    config = load_config(None)
    store = TrackStore(8, 16, 10.0)
    candidates = Candidates(config, store, RedBlobSegmenter())
    box = np.array([0.0, 0.0, 10.0, 10.0])
    dog = store.new_track("object", box, 0.9, 0.0, "yolox-any:dog")
    beagle = store.new_track("dog", box, 0.9, 0.0, "yolox:dog+imagenet:beagle")
    person = store.new_track("object", box, 0.9, 0.0, "yolox-any:person")
    blob = store.new_track("red ball", box, 0.9, 0.0, "cue:motion")
    for tid in (dog, beagle, person, blob):
        store.add_detection(tid, store.info[tid].phrase, 0.9, 0.0, store.info[tid].source)
    candidates.regrounded(("the dog running",))
    assert {t for t, i in store.info.items() if i.candidate} == {dog, beagle} == candidates.provisional
    candidates.regrounded(("ball",))
    assert {t for t, i in store.info.items() if i.candidate} == {blob}
    assert detected_as("cue:colour", "red ball") == "red ball" and detected_as("", "cat") == "cat"


def test_the_first_objects_of_an_empty_scene_are_cut_in_the_worker_too() -> None:
    """Nothing is found on the first frames (no tracks, so nothing propagates); once the balls
    are detected, the segmenter keeps the flows after the keyframe's frame, so even the first
    tracks start from the worker's cuts and the frame loop cuts no box at all."""
    clip = two_balls(n=40, pan_px=1.0)
    config = load_config(None, {"engine.async_keyframes": True})

    class LateBalls(RedBlobDetector):
        def detect(self, frame, phrases):  # type: ignore[no-untyped-def]
            return super().detect(frame, phrases) if frame.index >= 10 else []

    seg = _Spy(config)
    with Engine(config, detector=LateBalls(), segmenter=seg) as engine:
        engine.set_command(RIGHT)
        for i, frame in enumerate(clip.frames):
            result = engine.push_frame(frame, i / clip.fps)
            time.sleep(0.01)
    assert seg.cut_boxes == [] and len(seg.started) >= 2
    assert result.state is TargetState.TRACKING and iou(result.mask, clip.masks[0][-1]) > 0.6


class _Fixed:
    """A reasoner with a fixed answer."""

    def __init__(self, result: ReasoningResult) -> None:
        self.result = result

    def select(self, command: ParsedCommand, scene: SceneSummary) -> ReasoningResult:
        return self.result


class _FavoursTwo:
    def __init__(self) -> None:
        self.calls = 0
        self.subjects: list[str] = []

    def score(self, pose_text: str, crops: dict, subject: str = "") -> dict[int, float]:
        self.calls += 1
        self.subjects.append(subject)
        return {t: (0.9 if t == 2 else 0.1) for t in crops}


def _job(*ids: int) -> ReasoningJob:
    tracks = [Trajectory(t, "dog", np.zeros(1), np.zeros((1, 4)), np.zeros((1, 4)), np.ones(1), np.ones(1, bool))
              for t in ids]
    command = ParsedCommand("the dog walking toward the camera sniffing", ("dog",),
                            motion=("walking toward the camera",), pose=("sniffing",))
    return ReasoningJob(0, command, SceneSummary(tracks, "static", (), (64, 48), 4.0), {}, 0.0)


def test_the_pose_reranks_only_what_the_motion_reasoning_accepts() -> None:
    pose = _FavoursTwo()
    close = {1: 0.30, 2: 0.28}
    chosen = reason(_job(1, 2), _Fixed(ReasoningResult((1,), "r", "rule", close, True)), pose, 1)
    assert chosen.result.track_ids == (2,) and pose.calls == 1  # a close call the pose settles
    assert pose.subjects == ["dog"]  # the pose is of the command's noun (a dog's posture is not a person's)
    turned_down = {1: 0.05, 2: 0.04}  # both below the reasoner's floor: nothing fits the motion
    none = reason(_job(1, 2), _Fixed(ReasoningResult((), "r", "rule", turned_down, True)), pose, 1)
    assert none.result.track_ids == () and pose.calls == 1


def test_only_a_detection_that_names_a_class_keeps_its_box_for_the_size() -> None:
    """A class detector boxes the whole object each time; a weight-free cue boxes what it found
    (a colour region, a salient part), so its box is no measure of the object's size."""
    config = load_config(None)
    store = TrackStore(8, 16, 10.0)
    candidates = Candidates(config, store, RedBlobSegmenter())
    first = _square(0, 14, None)
    dets = [Detection(np.array([14.0, 10.0, 34.0, 30.0]), 0.9, "ball", source="yolox:sports ball"),
            Detection(np.array([60.0, 30.0, 80.0, 50.0]), 0.8, "ball", source="cue:colour")]
    named, cue = candidates.ground(first, {}, dets, wide=True, recorder=None).born
    np.testing.assert_array_equal(store.info[named].last_detection[1], dets[0].box)
    assert store.info[cue].last_detection is None


def _red_squares(*regions: tuple[int, int, int, int]) -> tuple[Candidates, TrackStore, FrameContext]:
    """Fresh ``Candidates`` (the red-blob segmenter), its store, and frame 0: 100x60 px, red squares
    at the ``(y0, y1, x0, x1)`` ``regions``."""
    store = TrackStore(8, 16, 10.0)
    image = np.zeros((60, 100, 3), np.uint8)
    for y0, y1, x0, x1 in regions:
        image[y0:y1, x0:x1] = (220, 30, 30)
    frame = FrameContext(0, 0.0, image, image.mean(axis=2).astype(np.uint8))
    return Candidates(load_config(None), store, RedBlobSegmenter()), store, frame


def test_a_box_that_rules_out_unmakes_the_candidate_it_covers() -> None:
    """A weight-free cue started a track on what YOLOX then surely names a person ("not:person",
    for "the pillow"): that track is no candidate any more, the other one stays, and the ruling box
    starts no track of its own."""
    candidates, store, first = _red_squares((10, 30, 14, 34), (30, 50, 60, 80))
    cues = [Detection(np.array([14.0, 10.0, 34.0, 30.0]), 0.3, "pillow", source="cue:motion"),
            Detection(np.array([60.0, 30.0, 80.0, 50.0]), 0.3, "pillow", source="cue:colour")]
    masks: dict[int, np.ndarray] = {}
    child, pillow = candidates.ground(first, masks, cues, wide=True, recorder=None).born
    assert store.info[child].candidate and store.info[pillow].candidate
    person = Detection(np.array([12.0, 4.0, 36.0, 40.0]), 0.0, "pillow", source="not:person")
    later = FrameContext(15, 0.5, first.image, first.gray, prev_gray=first.gray)
    out = candidates.ground(later, masks, [*cues, person], wide=True, recorder=None)
    assert not store.info[child].candidate and store.info[pillow].candidate
    assert not out.born and person.rules_out and not cues[0].rules_out


def test_a_track_started_on_a_thing_that_rules_out_is_no_candidate_from_the_start() -> None:
    """A cue's box that only partly overlaps a person starts a track; cut, its mask is the person:
    it is ruled out on the keyframe it starts on."""
    candidates, store, frame = _red_squares((10, 30, 14, 34))
    loose = Detection(np.array([4.0, 0.0, 44.0, 40.0]), 0.3, "pillow", source="cue:motion")
    person = Detection(np.array([12.0, 8.0, 36.0, 32.0]), 0.0, "pillow", source="not:person")
    assert not is_one_of(loose.box, person.box[None])
    masks: dict[int, np.ndarray] = {}
    (tid,) = candidates.ground(frame, masks, [loose, person], wide=True, recorder=None).born
    assert not store.info[tid].candidate


def test_a_track_a_model_grounds_is_not_ruled_out() -> None:
    """A cup YOLOX boxes in a person's hand lies in the person's box; its track stays a candidate
    (only weight-free cues' tracks are ruled out by a box of another kind)."""
    candidates, store, frame = _red_squares((20, 28, 20, 28))
    cup = Detection(np.array([20.0, 20.0, 28.0, 28.0]), 0.8, "cup", source="yolox:cup")
    person = Detection(np.array([10.0, 0.0, 40.0, 60.0]), 0.0, "cup", source="not:person")
    masks: dict[int, np.ndarray] = {}
    (tid,) = candidates.ground(frame, masks, [cup, person], wide=True, recorder=None).born
    assert is_one_of(cup.box, person.box[None])
    assert store.info[tid].candidate and not store.info[tid].ruled_out


def test_the_detector_is_asked_for_the_dressed_phrase_and_answers_for_the_candidate() -> None:
    """The keyframe asks the detector for "kid in a black shirt" (``KeyframeJob.asked``); its
    detections are the candidate "kid"'s, which the tracks and the grounding gate know."""
    from parse_vos_ros.engine.keyframes import KeyframeJob, detect_on_keyframe

    asked_for: list[tuple[str, ...]] = []

    class Recording:
        def detect(self, frame, phrases):  # type: ignore[no-untyped-def]
            asked_for.append(tuple(phrases))
            return [Detection(np.array([0.0, 0.0, 10.0, 10.0]), 0.9, phrases[0], source="yolox:person")]

    frame = _square(0, 14, None)
    job = KeyframeJob(0, frame, frame.image, ("kid",), {}, (), asked=("kid in a black shirt",))
    outcome = detect_on_keyframe(job, Recording(), None)
    assert asked_for == [("kid in a black shirt",)] and [d.phrase for d in outcome.detections] == ["kid"]
    plain = detect_on_keyframe(KeyframeJob(0, frame, frame.image, ("kid",), {}, ()), Recording(), None)
    assert asked_for[-1] == ("kid",) and plain.detections[0].phrase == "kid"
