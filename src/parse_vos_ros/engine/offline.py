"""Offline: a whole video through the streaming engine, then one revision with whole trajectories."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from parse_vos_ros.context.depth import DepthFrame
from parse_vos_ros.context.distances import DistanceHistory
from parse_vos_ros.engine.core import Engine
from parse_vos_ros.engine.output import target_points, union_at
from parse_vos_ros.engine.scene import with_distances
from parse_vos_ros.reasoning.parts import wholes_for_parts
from parse_vos_ros.tracking.store import HistoryRecorder
from parse_vos_ros.types import FrameResult, ParsedCommand, SceneSummary, TargetState

BACKFILL_COVERED = 0.5  # backfilling stops where another selected track covers this much of the mask
UNBOUNDED_SAMPLES = 2**31 - 1  # the whole-video distance history keeps every sample


def depth_kwargs(depth: DepthFrame | None) -> dict[str, DepthFrame]:
    """``push_frame`` keyword arguments for one frame's depth: ``depth=`` only when there is depth,
    so engines without depth support keep working on data without depth."""
    return {} if depth is None else {"depth": depth}


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
    engine.depths.whole_video = DistanceHistory(math.inf, UNBOUNDED_SAMPLES)
    # The whole video is at hand, nothing waits for a frame: keyframes run inline, so the result
    # does not depend on thread timing (the reset above dropped any keyframe work in flight).
    threaded, engine.keyframer.threaded = engine.keyframer.threaded, False
    results: list[FrameResult] = []
    shapes: list[tuple[int, int]] = []
    depth_frames: list[DepthFrame | None] = []
    depth_iter = iter(depths) if depths is not None else None
    try:
        for i, image in enumerate(frames):
            depth = next(depth_iter, None) if depth_iter is not None else None
            results.append(engine.push_frame(image, i / fps, **depth_kwargs(depth)))
            shapes.append(image.shape[:2])
            depth_frames.append(engine.working_depth)
        recorder, distances = engine.recorder, engine.depths.whole_video
    finally:
        engine.recorder, engine.depths.whole_video = None, None
        engine.keyframer.threaded = threaded
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
        small = recorder.union_mask(i, chosen)
        mask, box = union_at([small] if small.any() else [], shapes[i])
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
            if np.count_nonzero(covered & mask) > BACKFILL_COVERED * np.count_nonzero(mask):
                break
            recorder.add_mask(i, tid, mask)
            filled += 1
    engine.reset()  # the segmenter's state now belongs to the backward pass
    return filled
