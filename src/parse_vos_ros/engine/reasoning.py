"""Reasoning: one job (motion reasoner, pose verifier, parts, not-found) and the worker that runs jobs.

``ReasoningWorker`` has one API for both forms: inline (the job runs inside ``submit``, for
deterministic offline runs and tests) and threaded (``submit`` hands the job to a background
thread and returns at once). Latest wins: a job submitted while another waits replaces it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from parse_vos_ros.reasoning.grounded import not_found_reason
from parse_vos_ros.reasoning.parts import wholes_for_parts
from parse_vos_ros.types import ParsedCommand, ReasoningResult, SceneSummary

LOG = logging.getLogger(__name__)

POSE_MARGIN = 0.1  # candidates scoring within this of the best "remain" for pose verification
POSE_NEUTRAL = 0.5  # a pose score of a track the verifier did not score; above it, the pose fits
JOIN_TIMEOUT_S = 5.0  # how long ``close`` waits for a running job


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
    """Motion reasoning, then pose verification when more than ``trigger_above`` candidates remain
    within ``POSE_MARGIN`` of the best; a part is replaced by its whole; nothing is chosen when
    nothing in view grounds the command."""
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
    if pose_text and result.scores:
        best = max(result.scores.values())
        remain = [t for t, s in result.scores.items() if s >= best - POSE_MARGIN and t in valid]
        if len(remain) > trigger_above:
            t1 = time.perf_counter()
            pose = pose_verifier.score(pose_text, {t: job.crops.get(t, []) for t in remain})
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


class ReasoningWorker:
    """Runs ``ReasoningJob`` s inline or in one background thread; every field is touched only
    under ``_lock``.

    Args:
        run: computes a job's outcome (``reason`` with the engine's backends).
        threaded: run jobs in a background thread (``submit`` never waits).
        cancel: called when the command changes, to stop an in-flight job early (an LLM call
            would otherwise run to its timeout for a result that is discarded); may be None.
    """

    def __init__(self, run: Callable[[ReasoningJob], ReasoningOutcome], threaded: bool,
                 cancel: Callable[[], None] | None = None) -> None:
        self._run = run
        self._cancel = cancel
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._job: ReasoningJob | None = None  # waiting for the thread
        self._outcome: ReasoningOutcome | None = None  # done, not yet polled
        self._busy = False  # the thread is running a job
        self._generation = 0  # outcomes of older generations are dropped
        self._closed = False
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._loop, name="parse-vos-reasoner", daemon=True)
            self._thread.start()

    @property
    def busy(self) -> bool:
        """The thread is running a job (always False inline)."""
        with self._lock:
            return self._busy

    def submit(self, job: ReasoningJob) -> None:
        """Run ``job`` now (inline) or hand it to the thread, replacing one that still waits."""
        if self._thread is None:
            self._store(job, self._run(job))
            return
        with self._lock:
            self._job = job
            self._wake.notify()

    def poll(self) -> ReasoningOutcome | None:
        """The newest finished outcome not yet taken, or None."""
        with self._lock:
            outcome, self._outcome = self._outcome, None
            return outcome

    def invalidate(self, generation: int) -> None:
        """The command changed to ``generation``: drop waiting jobs and older outcomes, cancel a
        running one."""
        with self._lock:
            self._generation = max(self._generation, generation)
            self._job = None
            if self._cancel is not None:
                self._cancel()

    def close(self) -> None:
        """Stop the thread (waits up to ``JOIN_TIMEOUT_S`` for a running job)."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=JOIN_TIMEOUT_S)

    def _store(self, job: ReasoningJob, outcome: ReasoningOutcome) -> None:
        with self._lock:
            self._busy = False
            if job.generation == self._generation:  # a newer command preempts this outcome
                self._outcome = outcome

    def _loop(self) -> None:
        while True:
            with self._lock:
                while self._job is None and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                job, self._job = self._job, None
                self._busy = True
            try:
                outcome = self._run(job)
            except Exception as exc:  # a failing reasoner must not kill the thread: report it in the trace
                LOG.exception("reasoning failed")
                outcome = ReasoningOutcome(job.generation, ReasoningResult((), f"reasoning failed: {exc}", "error"),
                                           {}, job.stamp)
            self._store(job, outcome)
