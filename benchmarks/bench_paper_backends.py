"""Paper backends on the CPU: per-frame cost, peak memory, and flat memory over long streams.

Random weights throughout (no downloads); what is measured is the cost of the architectures and of
this package's pre/post-processing and session bookkeeping, not accuracy.

- ``tiny``: the tiny test architectures (tests/tiny_models.py) through the real backends.
- ``real_size``: real architectures with random weights, each in a fresh process so its peak RSS is
  its own: GroundingDINO-T (Swin-T + BERT-base, 800 px short side), SAM2.1 hiera-tiny and
  hiera-large (1024 px input), CLIP ViT-B/32 and ViT-L/14.
- ``sam2_long_stream``: the tiny SAM2 segmenter over thousands of frames with keyframe re-anchoring:
  session tensor bytes and process RSS must stay flat after warm-up.
- ``engine``: the whole engine with GroundingDINO + SAM2 + CLIP (tiny weights) on a 300-frame clip:
  per-stage times and memory flat after warm-up.

    .venv/bin/python benchmarks/bench_paper_backends.py --out out/bench_paper_backends.json
    (--quick: fewer frames and no real-size SAM2-L / CLIP-L, for a smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the tiny-model builders live with the tests

FLAT_TOLERANCE = 0.05  # memory "flat": growth after warm-up below 5 %


def rss_mb() -> float:
    """Current resident set size in MiB."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def clip_frames(n: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` RGB frames: two bright squares moving in opposite directions over noise."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
    out = []
    side = height // 4
    for i in range(n):
        img = background.copy()
        x = int((0.1 + 0.4 * i / max(n, 1)) * width)
        img[height // 4 : height // 4 + side, x : x + side] = (230, 40, 40)
        x2 = int((0.8 - 0.4 * i / max(n, 1)) * width)
        img[height // 2 : height // 2 + side, x2 : x2 + side] = (40, 40, 230)
        out.append(img)
    return out


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median wall and CPU (this process) milliseconds per call. On a shared machine the CPU time
    is the architecture's cost; the wall time includes waiting for other processes."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return {"median_ms": statistics.median(wall), "cpu_median_ms": statistics.median(cpu), "n": repeats}


def growth(series: list[float]) -> float:
    """Relative growth from the first to the last value of a post-warm-up series."""
    return (series[-1] - series[0]) / series[0] if series and series[0] else 0.0


# --- backends on in-memory models ---------------------------------------------------------------


def _frame(image: np.ndarray, index: int = 0):
    from parse_vos_ros.types import FrameContext

    return FrameContext(index=index, stamp=index / 30.0, image=image, gray=image[..., 0])


def bench_detector(detector, image: np.ndarray, repeats: int) -> dict[str, float]:
    return timed(lambda: detector.detect(_frame(image), ["person", "red ball", "dog"]), repeats)


def bench_segmenter(segmenter, frames: list[np.ndarray], n_objects: int) -> dict[str, float]:
    h, w = frames[0].shape[:2]
    first = _frame(frames[0], 0)
    segmenter.propagate(first)
    boxes = {k: np.array([w * (0.05 + 0.2 * k), h * 0.3, w * (0.2 + 0.2 * k), h * 0.6]) for k in range(n_objects)}
    c0 = time.process_time()
    segmenter.add_objects(first, boxes)
    add_cpu_ms = (time.process_time() - c0) * 1e3
    pending = list(enumerate(frames[1:], start=1))

    def step() -> None:
        index, image = pending.pop(0)
        segmenter.propagate(_frame(image, index))

    stats = timed(step, len(pending) - 1)
    return {"add_objects_cpu_ms": add_cpu_ms, **{f"propagate_{k}": v for k, v in stats.items()}}


def bench_clip(verifier, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    crops = {t: [rng.integers(0, 256, (120, 60, 3), dtype=np.uint8) for _ in range(3)] for t in range(3)}
    verifier.score("sitting with raised arm", crops)  # text embedding cached from here on
    return timed(lambda: verifier.score("sitting with raised arm", crops), repeats, warmup=0)


# --- real-size architectures (one per subprocess) -----------------------------------------------


def _real_groundingdino():
    import torch
    from tiny_models import _BERT_WORDS
    from transformers import BertTokenizer, GroundingDinoConfig, GroundingDinoForObjectDetection, GroundingDinoProcessor
    from transformers.models.grounding_dino.image_processing_pil_grounding_dino import (
        GroundingDinoImageProcessorPil,
    )

    from parse_vos_ros.grounding.groundingdino import GroundingDinoDetector

    model = GroundingDinoForObjectDetection(GroundingDinoConfig()).eval()  # Swin-T + BERT-base = GD-T
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessorPil(),  # 800 px short side, 1333 long, as released
        tokenizer=BertTokenizer(vocab={w: i for i, w in enumerate(_BERT_WORDS)}),
    )
    return GroundingDinoDetector(model, processor, device=torch.device("cpu"), dtype=torch.float32)


def _hiera_large_config():
    from transformers import Sam2VideoConfig
    from transformers.models.sam2.configuration_sam2 import Sam2HieraDetConfig, Sam2VisionConfig

    backbone = Sam2HieraDetConfig(
        hidden_size=144,
        num_attention_heads=2,
        blocks_per_stage=[2, 6, 36, 4],
        embed_dim_per_stage=[144, 288, 576, 1152],
        num_attention_heads_per_stage=[2, 4, 8, 16],
        window_size_per_stage=[8, 4, 16, 8],
        global_attention_blocks=[23, 33, 43],
    )
    vision = Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[1152, 576, 288, 144])
    return Sam2VideoConfig(vision_config=vision)


def _real_sam2(size: str):
    import torch
    from transformers import Sam2VideoConfig, Sam2VideoModel

    from parse_vos_ros.tracking.sam2 import Sam2Segmenter

    config = Sam2VideoConfig() if size == "tiny" else _hiera_large_config()  # defaults = SAM2.1 hiera-tiny
    model = Sam2VideoModel(config).eval()
    return Sam2Segmenter(model, device=torch.device("cpu"), dtype=torch.float32)


def _real_clip(size: str):
    import torch
    from tiny_models import tiny_clip_tokenizer_files
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from parse_vos_ros.reasoning.clip_pose import ClipPoseVerifier

    vocab, merges = tiny_clip_tokenizer_files()
    if size == "B/32":
        config = CLIPConfig(text_config={"vocab_size": 49408}, projection_dim=512)  # defaults = ViT-B/32
    else:
        config = CLIPConfig(
            text_config={"vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12},
            vision_config={
                "hidden_size": 1024,
                "intermediate_size": 4096,
                "num_hidden_layers": 24,
                "num_attention_heads": 16,
                "patch_size": 14,
            },
            projection_dim=768,
        )
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}),
        tokenizer=CLIPTokenizer(vocab=vocab, merges=merges),
    )
    return ClipPoseVerifier(CLIPModel(config).eval(), processor, device=torch.device("cpu"), dtype=torch.float32)


def worker(name: str, quick: bool) -> dict[str, Any]:
    """One real-size measurement; runs in its own process (see ``run_worker``)."""
    frames = clip_frames(4 if quick else 6, 640, 480)
    t0 = time.perf_counter()
    if name == "groundingdino_T":
        backend = _real_groundingdino()
        build_s = time.perf_counter() - t0
        result = bench_detector(backend, frames[0], repeats=1 if quick else 2)
    elif name.startswith("sam2.1_"):
        backend = _real_sam2(name.split("_", 1)[1])
        build_s = time.perf_counter() - t0
        result = {
            "1_object": bench_segmenter(backend, frames, 1),
            "3_objects": (backend.reset(), bench_segmenter(backend, frames, 3))[1],
        }
    else:
        backend = _real_clip(name.split("_", 1)[1])
        build_s = time.perf_counter() - t0
        result = bench_clip(backend, repeats=2 if quick else 5)
    n_params = sum(p.numel() for p in backend.model.parameters())
    return {"params_M": n_params / 1e6, "build_s": build_s, **result, "peak_rss_mb": peak_rss_mb()}


def run_worker(name: str, quick: bool, threads: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
        cmd = [sys.executable, __file__, "--worker", name, "--out", tmp.name, "--threads", str(threads)]
        cmd += ["--quick"] if quick else []
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            return {"error": proc.stderr[-2000:]}
        return json.loads(Path(tmp.name).read_text())


# --- tiny models, long stream, engine -------------------------------------------------------------


def build_tiny(root: Path) -> dict[str, Path]:
    from tiny_models import build_tiny_clip, build_tiny_groundingdino, build_tiny_sam2_video

    return {
        "gd": build_tiny_groundingdino(root / "gd"),
        "sam2": build_tiny_sam2_video(root / "sam2"),
        "clip": build_tiny_clip(root / "clip"),
    }


def tiny_config(dirs: dict[str, Path], **extra: Any):
    from parse_vos_ros.config import load_config

    sets = {
        "grounding.model_path": str(dirs["gd"]),
        "tracking.model_path": str(dirs["sam2"]),
        "pose.model_path": str(dirs["clip"]),
        "parser.backend": "rule",
        "reasoner.backend": "rule",
        "fallback": "none",
        "device": "cpu",
    }
    sets.update(extra)
    return load_config("paper", sets)


def bench_tiny(dirs: dict[str, Path]) -> dict[str, Any]:
    from parse_vos_ros.grounding.groundingdino import GroundingDinoDetector
    from parse_vos_ros.reasoning.clip_pose import ClipPoseVerifier
    from parse_vos_ros.tracking.sam2 import Sam2Segmenter

    config = tiny_config(dirs)
    frames = clip_frames(31, 640, 480)
    return {
        "groundingdino": bench_detector(GroundingDinoDetector.from_config(config), frames[0], 10),
        "sam2_1_object": bench_segmenter(Sam2Segmenter.from_config(config), frames, 1),
        "sam2_4_objects": bench_segmenter(Sam2Segmenter.from_config(config), frames, 4),
        "clip_3x3_crops": bench_clip(ClipPoseVerifier.from_config(config), 10),
    }


def bench_long_stream(dirs: dict[str, Path], n_frames: int) -> dict[str, Any]:
    """Tiny SAM2 over ``n_frames`` frames, 2 objects re-anchored every 15 frames (tau)."""
    from parse_vos_ros.tracking.sam2 import Sam2Segmenter

    segmenter = Sam2Segmenter.from_config(tiny_config(dirs))
    frames = clip_frames(30, 320, 240)
    boxes = {1: np.array([30, 60, 110, 120.0]), 2: np.array([200, 120, 280, 180.0])}
    samples = []
    t0 = time.perf_counter()
    for i in range(n_frames):
        frame = _frame(frames[i % len(frames)], i)
        segmenter.propagate(frame)
        if i % 15 == 0:
            segmenter.add_objects(frame, boxes)
        if i % 100 == 99:
            stats = segmenter.memory_stats()
            samples.append({"frame": i + 1, "session_bytes": stats["bytes"], "rss_mb": rss_mb(), **stats})
    elapsed = time.perf_counter() - t0
    warm = [s for s in samples if s["frame"] > n_frames // 5]
    session_growth = growth([s["session_bytes"] for s in warm])
    rss_growth = growth([s["rss_mb"] for s in warm])
    return {
        "frames": n_frames,
        "ms_per_frame": elapsed / n_frames * 1e3,
        "samples": samples,
        "session_bytes_growth_after_warmup": session_growth,
        "rss_growth_after_warmup": rss_growth,
        "flat": abs(session_growth) < FLAT_TOLERANCE and rss_growth < FLAT_TOLERANCE,
    }


def bench_engine(dirs: dict[str, Path], n_frames: int) -> dict[str, Any]:
    """The engine with the three paper backends (tiny weights) on an ``n_frames`` clip."""
    from parse_vos_ros.engine import Engine
    from parse_vos_ros.types import ParsedCommand

    config = tiny_config(dirs, **{"grounding.max_detections": 4, "grounding.box_threshold": 0.3})
    frames = clip_frames(n_frames, 320, 240)
    command = ParsedCommand("the ball moving to the right", candidates=("ball",), motion=("to the right",))
    stages: dict[str, list[float]] = {}
    samples = []
    with Engine(config) as engine:
        engine.set_command(command)
        for i, image in enumerate(frames):
            result = engine.push_frame(image, i / 30.0)
            for k, v in result.timings_ms.items():
                stages.setdefault(k, []).append(v)
            if i % 25 == 24:
                seg = engine.segmenter.memory_stats()
                samples.append(
                    {
                        "frame": i + 1,
                        "rss_mb": rss_mb(),
                        "session_bytes": seg["bytes"],
                        "window_bytes": engine.stats()["window_bytes"],
                        "tracks": engine.stats()["tracks"],
                    }
                )
        stats = engine.stats()
    warm = [s for s in samples if s["frame"] > n_frames // 3]
    rss_growth = growth([s["rss_mb"] for s in warm])
    held = [s["session_bytes"] + s["window_bytes"] for s in warm]
    return {
        "frames": n_frames,
        "resolution": "320x240",
        "stage_median_ms": {k: statistics.median(v) for k, v in stages.items()},
        "stage_p95_ms": {k: float(np.percentile(v, 95)) for k, v in stages.items()},
        "engine_stats": stats,
        "samples": samples,
        "rss_growth_after_warmup": rss_growth,
        "held_bytes_max_over_min_after_warmup": max(held) / max(min(held), 1),
        "flat": rss_growth < FLAT_TOLERANCE,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON output file")
    parser.add_argument("--long-frames", type=int, default=3000, help="frames of the SAM2 long-stream run")
    parser.add_argument("--engine-frames", type=int, default=300, help="frames of the engine run")
    parser.add_argument("--quick", action="store_true", help="smoke run: small counts, fewer real-size models")
    parser.add_argument("--skip-real", action="store_true", help="skip the real-size architectures")
    parser.add_argument("--only-real", action="store_true", help="only the real-size architectures")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads (0 = default; 1 is steadier on a busy CPU)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        Path(args.out).write_text(json.dumps(worker(args.worker, args.quick)))
        return 0
    from parse_vos_ros.atomic import atomic_write_json

    report: dict[str, Any] = {
        "torch_threads": torch.get_num_threads(),
        "device": "cpu",
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }
    if not args.only_real:
        with tempfile.TemporaryDirectory() as tmp:
            dirs = build_tiny(Path(tmp))
            report["tiny"] = bench_tiny(dirs)
            report["sam2_long_stream"] = bench_long_stream(dirs, 500 if args.quick else args.long_frames)
            report["engine"] = bench_engine(dirs, 60 if args.quick else args.engine_frames)
    if not args.skip_real:
        names = ["groundingdino_T", "sam2.1_tiny", "clip_B/32"]
        if not args.quick:
            names += ["sam2.1_large", "clip_L/14"]
        report["real_size"] = {name: run_worker(name, args.quick, args.threads) for name in names}
    report["load_average_at_end"] = os.getloadavg()
    if not args.only_real:
        report["pass"] = {
            "sam2_memory_flat": report["sam2_long_stream"]["flat"],
            "engine_memory_flat": report["engine"]["flat"],
        }
    atomic_write_json(args.out, report)
    print(json.dumps(report.get("pass", {})), "->", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
