"""Reasoning: one job (motion reasoner, pose verifier, parts, not-found), run by a ``worker.Worker``."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from parse_vos_ros.reasoning.grounded import not_found_reason
from parse_vos_ros.reasoning.parts import wholes_for_parts
from parse_vos_ros.types import ParsedCommand, ReasoningResult, SceneSummary

POSE_MARGIN = 0.1  # candidates scoring within this of the best "remain" for pose verification
POSE_NEUTRAL = 0.5  # a pose score of a track the verifier did not score; above it, the pose fits


@dataclass(frozen=True)
class ReasoningJob:
    """One scene to reason about, for the command of ``generation``."""

    generation: int
    command: ParsedCommand
    scene: SceneSummary
    crops: dict[int, list[np.ndarray]]  # the newest ``(h, w, 3) uint8`` keyframe crops per track
    stamp: float  # the frame the scene ends on (s)


@dataclass(frozen=True)
class ReasoningOutcome:
    """The answer to a ``ReasoningJob``."""

    generation: int
    result: ReasoningResult
    extra: dict[str, object]  # trace fields: timings, candidates, pose scores, not_found ...
    stamp: float  # the job's stamp (s)


def reason(job: ReasoningJob, reasoner, pose_verifier, trigger_above: int) -> ReasoningOutcome:
    """Motion reasoning, then pose verification when the reasoning chose something and more than
    ``trigger_above`` candidates remain within ``POSE_MARGIN`` of the best; a part is replaced by
    its whole; nothing is chosen when nothing in view grounds the command."""
    t0 = time.perf_counter()
    result = reasoner.select(job.command, job.scene)
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
    # The pose re-ranks what the motion reasoning accepts; a track it turned down stays down.
    if pose_text and result.scores and result.track_ids:
        best = max(result.scores.values())
        remain = [t for t, s in result.scores.items() if s >= best - POSE_MARGIN and t in valid]
        if len(remain) > trigger_above:
            t1 = time.perf_counter()
            subject = job.command.candidates[0] if job.command.candidates else ""
            pose = pose_verifier.score(pose_text, {t: job.crops.get(t, []) for t in remain}, subject)
            extra["pose_scores"] = {str(t): round(s, 3) for t, s in pose.items()}
            extra["pose_ms"] = round((time.perf_counter() - t1) * 1e3, 2)
            combined = {t: result.scores[t] * (POSE_NEUTRAL + pose.get(t, POSE_NEUTRAL)) for t in remain}
            ranked = sorted(combined, key=lambda t: -combined[t])
            card = job.command.cardinality
            keep = ([t for t in ranked if pose.get(t, POSE_NEUTRAL) >= POSE_NEUTRAL] if card == "all"
                    else ranked[: int(card)])
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
    return ReasoningOutcome(job.generation, result, extra, job.stamp)


def failed(job: ReasoningJob, exc: Exception) -> ReasoningOutcome:
    """The outcome of a job whose reasoner raised: nothing chosen, the error in the rationale."""
    return ReasoningOutcome(job.generation, ReasoningResult((), f"reasoning failed: {exc}", "error"), {}, job.stamp)
