"""Engine measurements on synthetic streams: throughput and per-stage time, command response,
frame-loop tail latency with a slow reasoner, and memory over a long stream.

Every run times ``Engine.push_frame`` alone (the frame is already in memory), so the figure is
the engine's own cost per frame: the end-to-end latency of the core from image to ``FrameResult``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from parse_vos_ros import backends
from parse_vos_ros.bench.stats import peak_rss_kb, rss_kb, slope_per_1000, summarize_ms, value_near
from parse_vos_ros.bench.streams import COMMANDS, SyntheticStream
from parse_vos_ros.config import Config
from parse_vos_ros.engine import Engine
from parse_vos_ros.types import FrameResult, ParsedCommand, ReasoningResult, SceneSummary, TargetState

# The stage names -> the keys the engine writes into FrameResult.timings_ms.
STAGES = {
    "ego_motion": "ego_motion",
    "grounding": "detect",
    "propagation": "propagate",
    "association": "associate",
    "keyframe_masks": "keyframe_masks",
    "reasoning": "reason",
}
_ANSWERED = (TargetState.TRACKING, TargetState.AMBIGUOUS, TargetState.LOST, TargetState.NOT_FOUND)


class SlowReasoner:
    """A ``MotionReasoner`` that sleeps ``delay_s`` before delegating: a stand-in for an LLM call.

    ``calls`` counts the calls that finished, so a run can prove the slow path really ran.
    """

    def __init__(self, inner: object, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.calls = 0

    def select(self, command: ParsedCommand, scene: SceneSummary) -> ReasoningResult:
        time.sleep(self.delay_s)  # releases the GIL like a blocking HTTP / llama.cpp call
        result = self.inner.select(command, scene)  # type: ignore[attr-defined]
        self.calls += 1
        return result


@dataclass
class _Recorder:
    """Per-frame wall times and stage timings of one run."""

    wall_ms: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)
    keyframe_ms: list[float] = field(default_factory=list)
    ordinary_ms: list[float] = field(default_factory=list)

    def add(self, result: FrameResult, wall_ms: float) -> None:
        self.wall_ms.append(wall_ms)
        n = len(self.wall_ms)
        for key, ms in result.timings_ms.items():
            # Stages that only run on keyframes count as 0 ms on the other frames.
            self.stages.setdefault(key, [0.0] * (n - 1)).append(ms)
        for values in self.stages.values():
            if len(values) < n:
                values.append(0.0)
        self.states[result.state.value] = self.states.get(result.state.value, 0) + 1
        # A keyframe is a frame the detector ran on (its timings carry "detect").
        (self.keyframe_ms if "detect" in result.timings_ms else self.ordinary_ms).append(wall_ms)

    def report(self) -> dict[str, object]:
        total_s = sum(self.wall_ms) / 1e3
        per_stage = {key: round(float(np.mean(v)), 3) for key, v in sorted(self.stages.items())}
        return {
            "frames": len(self.wall_ms),
            "fps": round(len(self.wall_ms) / total_s, 2) if total_s > 0 else 0.0,
            "frame_ms": summarize_ms(self.wall_ms),
            "keyframe_ms": summarize_ms(self.keyframe_ms),
            "ordinary_frame_ms": summarize_ms(self.ordinary_ms),
            "stages_mean_ms": {name: per_stage.get(key, 0.0) for name, key in STAGES.items()},
            "engine_timings_mean_ms": per_stage,
            "engine_timings_p99_ms": {
                key: round(float(np.percentile(v, 99)), 3) for key, v in sorted(self.stages.items())
            },
            "states": dict(sorted(self.states.items())),
        }


def _timed_push(engine: Engine, image: np.ndarray, stamp: float) -> tuple[FrameResult, float]:
    t0 = time.perf_counter()
    result = engine.push_frame(image, stamp)
    return result, (time.perf_counter() - t0) * 1e3


def throughput(config: Config, width: int, height: int, frames: int, *, seed: int = 0, fps: float = 30.0,
               warmup: int = 30, command: str = COMMANDS[0]) -> dict[str, object]:
    """Unpaced throughput and per-stage time at ``width`` x ``height`` (frames pushed back to back).

    A short pre-roll without a command gives the engine a history; the command then arrives and
    the frames until its first answer (tracking / ambiguous / lost) are the command response.
    """
    stream = SyntheticStream(width, height, seed=seed)
    rec = _Recorder()
    response: dict[str, object] = {"frames": None, "ms": None}
    cpu_s = 0.0
    with Engine(config, async_reasoning=True) as engine:
        index = 0
        for _ in range(10):
            engine.push_frame(stream.frame(index), index / fps)
            index += 1
        engine.set_command(command, stamp=index / fps)
        t_command = time.perf_counter()
        for k in range(warmup + frames):
            image = stream.frame(index)
            c0 = time.process_time()
            result, ms = _timed_push(engine, image, index / fps)
            if k >= warmup:
                cpu_s += time.process_time() - c0
            index += 1
            if response["frames"] is None and result.state in _ANSWERED:
                response = {"frames": k + 1, "ms": round((time.perf_counter() - t_command) * 1e3, 2)}
            if k >= warmup:
                rec.add(result, ms)
        stats = engine.stats()
    out = {"resolution": f"{width}x{height}", "command": command, **rec.report()}
    # CPU time of the process (all threads) per measured frame: on a shared machine it is far less
    # noisy than wall time, and it bounds the FPS a quiet machine with free cores would reach.
    out["cpu_ms_per_frame"] = round(cpu_s * 1e3 / max(1, frames), 3)
    out["command_response"] = response
    out["engine_stats"] = {k: float(v) for k, v in stats.items()}
    return out


def paced_frame_loop(config: Config, width: int, height: int, frames: int, *, reasoner: object,
                     seed: int = 0, fps: float = 30.0, command_every_s: float = 5.0) -> dict[str, object]:
    """Frames pushed at ``fps`` in real time with ``Engine(async_reasoning=True)``; a new command
    every ``command_every_s`` seconds (which preempts reasoning in flight)."""
    stream = SyntheticStream(width, height, seed=seed)
    rec = _Recorder()
    every = max(1, round(command_every_s * fps))
    with Engine(config, reasoner=reasoner, async_reasoning=True) as engine:
        start = time.perf_counter()
        for i in range(frames):
            if i % every == 0:
                engine.set_command(COMMANDS[(i // every) % len(COMMANDS)], stamp=i / fps)
            delay = start + i / fps - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            result, ms = _timed_push(engine, stream.frame(i), i / fps)
            rec.add(result, ms)
        stats = engine.stats()
    out = rec.report()
    out["reasonings"] = float(stats.get("reasonings", 0.0))
    return out


def slow_reasoner_effect(config: Config, width: int, height: int, frames: int, *, delay_s: float = 2.0,
                         seed: int = 0) -> dict[str, object]:
    """Frame-loop p99 with the configured reasoner vs the same wrapped to take ``delay_s`` per call."""
    baseline = paced_frame_loop(config, width, height, frames, reasoner=backends.build_reasoner(config), seed=seed)
    slow = SlowReasoner(backends.build_reasoner(config), delay_s)
    with_slow = paced_frame_loop(config, width, height, frames, reasoner=slow, seed=seed)
    p99_base = float(baseline["frame_ms"]["p99"])  # type: ignore[index]
    p99_slow = float(with_slow["frame_ms"]["p99"])  # type: ignore[index]
    return {
        "resolution": f"{width}x{height}",
        "reasoner_delay_s": delay_s,
        "slow_reasoner_calls": slow.calls,
        "baseline": baseline,
        "slow": with_slow,
        "p99_increase": round(p99_slow / p99_base - 1.0, 4) if p99_base > 0 else None,
    }


def long_stream(config: Config, width: int, height: int, frames: int, *, seed: int = 0, fps: float = 30.0,
                sample_every: int = 100, command_every: int = 600,
                progress: Callable[[int, int], None] | None = None) -> dict[str, object]:
    """RSS and FPS over a ``frames``-long stream, a new command every ``command_every`` frames.

    RSS is sampled every ``sample_every`` frames; growth compares the median RSS around frame
    2,000 with the median around the last frame (scaled down for shorter test streams).
    """
    stream = SyntheticStream(width, height, seed=seed)
    xs: list[int] = []
    rss: list[float] = []
    fps_series: list[float] = []
    window_bytes: list[float] = []
    block_ms = 0.0
    gc.collect()
    rss_start = rss_kb()
    with Engine(config, async_reasoning=True) as engine:
        for i in range(frames):
            if i % command_every == 0:
                engine.set_command(COMMANDS[(i // command_every) % len(COMMANDS)], stamp=i / fps)
            _, ms = _timed_push(engine, stream.frame(i), i / fps)
            block_ms += ms
            if (i + 1) % sample_every == 0:
                xs.append(i + 1)
                rss.append(rss_kb())
                fps_series.append(sample_every / (block_ms / 1e3) if block_ms > 0 else 0.0)
                window_bytes.append(float(engine.stats().get("window_bytes", 0.0)))
                block_ms = 0.0
                if progress is not None:
                    progress(i + 1, frames)
    # The issue compares frame 2,000 with frame 20,000; short runs keep the same proportions.
    early = min(2000, frames // 10)
    half = max(sample_every * 2, frames // 100)
    rss_early = value_near(xs, rss, early, half)
    rss_end = value_near(xs, rss, xs[-1] if xs else 0, half)
    growth = (rss_end / rss_early - 1.0) if rss_early and rss_end else None
    tail = [k for k, x in enumerate(xs) if x >= early]
    return {
        "resolution": f"{width}x{height}",
        "frames": frames,
        "command_every_frames": command_every,
        "rss_start_mb": round(rss_start / 1024, 1),
        "rss_early_frame": early,
        "rss_early_mb": round(rss_early / 1024, 1) if rss_early else None,
        "rss_end_mb": round(rss_end / 1024, 1) if rss_end else None,
        "rss_growth": round(growth, 4) if growth is not None else None,
        "rss_slope_kb_per_1000_frames": round(slope_per_1000([xs[k] for k in tail], [rss[k] for k in tail]), 2),
        "rss_max_sampled_mb": round(max(rss, default=0.0) / 1024, 1),  # this run alone
        # The whole bench process so far: the kernel updates ru_maxrss lazily, so it can trail a sample.
        "peak_rss_mb": round(max(peak_rss_kb(), *rss, rss_end or 0.0) / 1024, 1),
        "window_bytes_max": max(window_bytes, default=0.0),
        "fps_mean": round(float(np.mean(fps_series)), 2) if fps_series else 0.0,
        "fps_min_block": round(float(np.min(fps_series)), 2) if fps_series else 0.0,
        "series": {"frame": xs, "rss_mb": [round(v / 1024, 2) for v in rss], "fps": [round(v, 2) for v in fps_series],
                   "window_bytes": window_bytes},
    }
