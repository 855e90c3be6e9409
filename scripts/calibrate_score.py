"""Measure what the engine's selection score means, and write the calibration table it publishes.

Runs the streaming engine (default profile, synchronous reasoning) on synthetic scenes
(``parse_vos_ros.synth``; every expression of ``--scenes`` scenes per seed) plus, for every scene,
one sentence that names nothing in it, and, with ``--davis DIR``, on the DAVIS-2016 sequences
there ("the <first category>" of ``categories.json``, ground truth = the sequence's mask). For
each frame with a published mask it records the raw selection score (``trace["score_raw"]``) and
whether the mask is right (IoU >= 0.5 with the referred objects). The raw scores are cut into
bins of equal count, each bin's (add-one smoothed) share of right masks is made non-decreasing (pool adjacent
violators) and the knots are printed as the ``RAW_KNOTS`` / ``CALIBRATED`` table of
``parse_vos_ros/reasoning/calibration.py``.

Usage: python scripts/calibrate_score.py --seeds 11 12 13 --scenes 12 [--davis DIR] [--out calibration.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from parse_vos_ros.config import load_config
from parse_vos_ros.engine import Engine
from parse_vos_ros.synth import make_spec, render

RIGHT_IOU = 0.5  # a mask is "right" at this IoU with the referred objects
SYNTH_FPS, DAVIS_FPS = 15.0, 24.0
BINS = 8
# A sentence naming nothing in a scene of coloured shapes: what a published mask then is worth.
ABSENT = "the black dog running to the left"


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two ``(H, W) bool`` masks (1 when both are empty)."""
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b)) / union if union else 1.0


Sample = tuple[float, bool]  # (raw selection score, published mask right)


def run_stream(engine: Engine, text: str, images: list[np.ndarray], truths: list[np.ndarray],
               fps: float) -> list[Sample]:
    """One stream from a reset engine: a sample for every frame with a non-empty published mask."""
    engine.reset()
    engine.set_command(text, 0.0)
    out = []
    for t, (image, truth) in enumerate(zip(images, truths, strict=True)):
        result = engine.push_frame(image, t / fps)
        if result.mask.any():
            raw = float(result.trace.get("score_raw", result.score))
            out.append((raw, iou(result.mask, truth) >= RIGHT_IOU))
    return out


def synth_samples(engine: Engine, seeds: list[int], scenes: int, frames: int, size: tuple[int, int],
                  fps: float) -> list[Sample]:
    """Every expression of the synthetic scenes, plus one sentence naming nothing in each."""
    out: list[Sample] = []
    for seed in seeds:
        for index in range(scenes):
            spec = make_spec(seed, index, frames, size)
            scene = render(spec, frames, size)
            for text, ids in [(e.text, e.obj_ids) for e in spec.expressions] + [(ABSENT, ())]:
                out += run_stream(engine, text, list(scene.images), [np.isin(m, ids) for m in scene.ids], fps)
            print(f"seed {seed} scene {index}: {len(out)} samples", file=sys.stderr, flush=True)
    return out


def davis_samples(engine: Engine, root: Path, fps: float) -> list[Sample]:
    """DAVIS-2016 sequences under ``root`` with "the <first category>" as the sentence."""
    categories = json.loads((root / "categories.json").read_text(encoding="utf-8"))
    out: list[Sample] = []
    for seq, names in sorted(categories.items()):
        frames = sorted((root / "JPEGImages" / "480p" / seq).glob("*.jpg"))
        images = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in frames]
        truths = [cv2.imread(str(root / "Annotations" / "480p" / seq / f"{f.stem}.png"), cv2.IMREAD_GRAYSCALE) > 0
                  for f in frames]
        out += run_stream(engine, f"the {names[0]}", images, truths, fps)
        print(f"davis {seq}: {len(out)} samples", file=sys.stderr, flush=True)
    return out


def pool_adjacent_violators(values: list[float], weights: list[int]) -> list[float]:
    """The non-decreasing sequence closest to ``values`` (weighted least squares)."""
    blocks = [[v, w, 1] for v, w in zip(values, weights, strict=True)]  # mean, weight, count
    merged: list[list[float]] = []
    for block in blocks:
        merged.append(block)
        while len(merged) > 1 and merged[-2][0] > merged[-1][0]:
            (v1, w1, c1), (v2, w2, c2) = merged[-2], merged[-1]
            merged[-2:] = [[(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2]]
    return [v for v, _, c in merged for _ in range(int(c))]


def fit(data: list[tuple[float, bool]], bins: int) -> dict[str, object]:
    """Equal-count bins of raw score -> monotone share of right masks."""
    raw = np.array([r for r, _ in data])
    right = np.array([ok for _, ok in data], dtype=float)
    order = np.argsort(raw)
    chunks = [c for c in np.array_split(order, bins) if c.size]
    centres = [float(np.median(raw[c])) for c in chunks]
    # Add-one smoothing: a bin where every mask was right still says less than certainty.
    shares = [float((right[c].sum() + 1) / (c.size + 2)) for c in chunks]
    monotone = pool_adjacent_violators(shares, [int(c.size) for c in chunks])
    return {
        "samples": len(data),
        "right_share": float(right.mean()),
        "raw_knots": [0.0, *[round(c, 3) for c in centres], 1.0],
        "calibrated": [0.0, *[round(m, 3) for m in monotone], round(monotone[-1], 3)],
        "bins": [{"raw_median": round(c, 3), "right": round(s, 3), "n": int(k.size)}
                 for c, s, k in zip(centres, shares, chunks, strict=True)],
    }


def source_summary(data: list[Sample]) -> dict[str, object]:
    """How many samples one source gave and the share of right masks among them."""
    return {"samples": len(data), "right_share": round(float(np.mean([ok for _, ok in data])), 3) if data else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--scenes", type=int, default=12)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--bins", type=int, default=BINS)
    parser.add_argument("--davis", type=Path, help="DAVIS-2016 folder with categories.json (optional)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    engine = Engine(load_config("default"))
    try:
        synth = synth_samples(engine, args.seeds, args.scenes, args.frames, (320, 240), SYNTH_FPS)
        davis = davis_samples(engine, args.davis, DAVIS_FPS) if args.davis else []
    finally:
        engine.close()
    report = {**fit(synth + davis, args.bins), "seeds": args.seeds, "scenes": args.scenes, "frames": args.frames,
              "synth": source_summary(synth), "davis": source_summary(davis),
              "wall_s": round(time.perf_counter() - start, 1)}
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
