"""One ``parse-vos bench`` run: every figure of issue 8 in one JSON, plus the long-stream plot."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from parse_vos_ros.atomic import atomic_write_json
from parse_vos_ros.bench import engine_runs, limits, ros_latency, targets, tokens
from parse_vos_ros.bench.plot import plot_long_stream
from parse_vos_ros.config import Config


@dataclass
class BenchOptions:
    """What to run. ``resolutions`` are ``(width, height)``; the first one is used for the long
    stream, the slow-reasoner comparison and the ROS run."""

    profile: str = "default"
    frames: int = 300  # measured frames per throughput run and per slow-reasoner run
    resolutions: Sequence[tuple[int, int]] = ((640, 480), (1280, 720))
    long_frames: int = 20000  # 0 skips the long stream
    slow_reasoner_s: float = 2.0
    skip_ros: bool = False
    ros_seconds: float = 20.0
    seed: int = 0
    llama_vocab: Path | None = None  # Llama 3 tokenizer GGUF for the token counts (None: look it up)


def machine_info() -> dict[str, Any]:
    """Where the figures were taken: they only compare on the same machine and load."""
    return {
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
    }


def run_bench(config: Config, options: BenchOptions, out: Path,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every benchmark, write ``out`` (JSON) and ``out`` with suffix ``.png``; return the result."""
    t_start = time.perf_counter()
    result: dict[str, Any] = {"profile": options.profile, "options": {
        "frames": options.frames, "resolutions": [f"{w}x{h}" for w, h in options.resolutions],
        "long_frames": options.long_frames, "slow_reasoner_s": options.slow_reasoner_s,
        "skip_ros": options.skip_ros, "seed": options.seed}}
    result["machine"] = machine_info()
    first = options.resolutions[0]

    # The long stream runs first, in a fresh heap: after the 1280x720 runs the allocator holds
    # free memory that would silently absorb (hide) growth.
    if options.long_frames > 0:
        log(f"long stream: {options.long_frames} frames at {first[0]}x{first[1]}")
        step = max(1, options.long_frames // 10)

        def progress(done: int, total: int) -> None:
            if done % step < 100:
                log(f"  {done}/{total} frames")

        long_run = engine_runs.long_stream(config, *first, options.long_frames, seed=options.seed,
                                           progress=progress)
        plot = plot_long_stream(long_run["series"], out.with_suffix(".png"),
                                f"parse-vos engine over {options.long_frames} frames ({first[0]}x{first[1]}, "
                                f"profile {options.profile})")
        long_run["plot"] = plot.name
        result["long_stream"] = long_run
    else:
        result["long_stream"] = None

    result["limits"] = []
    result["throughput"] = []
    for w, h in options.resolutions:
        log(f"limits {w}x{h}")
        result["limits"].append(limits.physical_limits(config, w, h, seed=options.seed))
        log(f"throughput {w}x{h}, {options.frames} frames")
        run = engine_runs.throughput(config, w, h, options.frames, seed=options.seed)
        best = result["limits"][-1]["best_fps"]
        run["fraction_of_best_fps"] = round(run["fps"] / best, 3) if best else None
        result["throughput"].append(run)
        log(f"  {run['fps']} FPS (best this pipeline shape could reach: {best} FPS)")
        key, ordinary = run["keyframe_ms"], run["ordinary_frame_ms"]
        log(f"  keyframes ({key['n']}): median {key['p50']} ms, p99 {key['p99']} ms; "
            f"other frames ({ordinary['n']}): median {ordinary['p50']} ms, p99 {ordinary['p99']} ms")

    log(f"slow reasoner ({options.slow_reasoner_s} s per call) vs the configured one, {options.frames} frames at 30 Hz")
    result["slow_reasoner"] = engine_runs.slow_reasoner_effect(config, *first, options.frames,
                                                              delay_s=options.slow_reasoner_s, seed=options.seed)

    log("token cost of serialized trajectories")
    result["tokens"] = tokens.token_costs(config, vocab=options.llama_vocab)
    if "skipped" in result["tokens"]:
        log(f"  skipped: {result['tokens']['skipped']}")

    if options.skip_ros:
        result["ros"] = {"skipped": "--skip-ros"}
    else:
        log(f"ROS end-to-end latency through DDS ({options.ros_seconds:.0f} s at 30 Hz)")
        result["ros"] = ros_latency.ros_latency(options.profile, *first, seconds=options.ros_seconds)

    result["targets"] = targets.evaluate(result)
    result["machine"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    result["duration_s"] = round(time.perf_counter() - t_start, 1)
    atomic_write_json(out, result)
    return result
