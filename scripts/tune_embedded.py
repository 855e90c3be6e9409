#!/usr/bin/env python3
"""Development harness for the embedded perception backends on DAVIS-2016 (../shared/data/davis2016).

  propagate: start the embedded segmenter from the ground-truth box on frame 0 (or --init-frame)
             and propagate; prints J (mask IoU over the later frames) and ms per frame per sequence.
  detect:    run the embedded detector on every frame with the sequence's category words
             (categories.json); prints recall = fraction of frames with a detection of IoU > 0.5
             against the ground-truth box, and ms per call.
  ceiling:   stream the whole engine with each of our referring expressions
             (data/expressions/davis2016_meta_expressions.json) and print, per expression, the mean
             IoU of the selected mask (what streaming delivers) and of the best live candidate track
             on each frame (what a perfect selection would deliver): the split between grounding /
             propagation error and reasoning error.

Output is one JSON object (per-sequence numbers and the means) on stdout; ``--out`` also writes it.
Ego-motion for the detector comes from a small LK + RANSAC estimate here, so the harness does not
depend on the engine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from parse_vos_ros.config import Config, load_config, parse_override
from parse_vos_ros.geometry import mask_box
from parse_vos_ros.tracking.embedded import EmbeddedSegmenter
from parse_vos_ros.types import FrameContext

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016"


def load_sequence(root: Path, seq: str, width: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """RGB frames ``(H, W, 3) uint8`` and ground-truth masks ``(H, W) bool`` of one sequence,
    downscaled to ``width`` pixels wide when it is > 0 (the engine's working width)."""
    frames = sorted((root / "JPEGImages" / "480p" / seq).glob("*.jpg"))
    annos = sorted((root / "Annotations" / "480p" / seq).glob("*.png"))
    images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in frames]
    masks = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in annos]
    if width > 0:
        size = (width, round(images[0].shape[0] * width / images[0].shape[1]))
        images = [cv2.resize(im, size, interpolation=cv2.INTER_AREA) for im in images]
        masks = [cv2.resize(m, size, interpolation=cv2.INTER_AREA) for m in masks]
    return images, [m > 127 for m in masks]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def ego_affine(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """``(2, 3)`` prev -> cur affine from Shi-Tomasi corners + LK + RANSAC (identity on failure)."""
    pts = cv2.goodFeaturesToTrack(prev, 300, 0.01, 8)
    if pts is None or len(pts) < 6:
        return np.eye(2, 3)
    nxt, status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None)
    ok = status.ravel() == 1
    if ok.sum() < 6:
        return np.eye(2, 3)
    affine, _ = cv2.estimateAffinePartial2D(pts[ok], nxt[ok], method=cv2.RANSAC, ransacReprojThreshold=2.0)
    return affine if affine is not None else np.eye(2, 3)


def contexts(images: list[np.ndarray], with_ego: bool) -> list[FrameContext]:
    out, prev = [], None
    for i, img in enumerate(images):
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        aff = ego_affine(prev, gray) if (with_ego and prev is not None) else np.eye(2, 3)
        out.append(FrameContext(index=i, stamp=i / 30.0, image=img, gray=gray, prev_gray=prev, ego_affine=aff))
        prev = gray
    return out


def propagate(config: Config, images: list[np.ndarray], gts: list[np.ndarray], start: int = 0) -> dict[str, float]:
    seg = EmbeddedSegmenter.from_config(config)
    ctxs = contexts(images, with_ego=False)
    box = mask_box(gts[start])
    if start > 0:
        seg.propagate(ctxs[start - 1])  # as in the engine: the previous frame was seen
    seg.add_objects(ctxs[start], {1: box})
    js, times = [], []
    for ctx, gt in zip(ctxs[start + 1:], gts[start + 1:], strict=True):
        t = time.perf_counter()
        mask = seg.propagate(ctx).get(1)
        times.append(time.perf_counter() - t)
        js.append(iou(mask, gt))
    return {"J": float(np.mean(js)), "J_last": float(np.mean(js[-10:])), "ms": 1000 * float(np.mean(times))}


def detect(config: Config, images: list[np.ndarray], gts: list[np.ndarray], words: list[str],
           every: int = 1) -> dict[str, float]:
    from parse_vos_ros.grounding.embedded import EmbeddedDetector  # only the detect mode needs it

    det = EmbeddedDetector.from_config(config)
    ctxs = contexts(images, with_ego=True)
    hits, top1, times, counts = [], [], [], []
    for ctx, gt in list(zip(ctxs, gts, strict=True))[1::every]:
        t = time.perf_counter()
        dets = det.detect(ctx, words)
        times.append(time.perf_counter() - t)
        gt_box = mask_box(gt)
        if gt_box is None:
            continue
        ious = [box_iou(d.box, gt_box) for d in dets]
        hits.append(max(ious, default=0.0) > 0.5)
        top1.append(bool(ious) and ious[0] > 0.5)
        counts.append(len(dets))
    return {"recall": float(np.mean(hits)), "top1": float(np.mean(top1)), "n": float(np.mean(counts)),
            "ms": 1000 * float(np.mean(times))}


EXPRESSIONS = Path(__file__).resolve().parents[1] / "data" / "expressions" / "davis2016_meta_expressions.json"


def ceiling(config: Config, images: list[np.ndarray], gts: list[np.ndarray], seq: str) -> dict[str, float]:
    """Per expression of ``seq``: mean IoU of the selected mask and of the best candidate track."""
    from parse_vos_ros.engine import Engine  # only the ceiling mode needs the whole engine

    out = {}
    for exp_id, exp in json.loads(EXPRESSIONS.read_text())["videos"][seq]["expressions"].items():
        engine = Engine(config)
        engine.set_command(exp["exp"], 0.0)
        selected, best = [], []
        for i, (image, gt) in enumerate(zip(images, gts, strict=True)):
            result = engine.push_frame(image, i / 30.0)
            selected.append(iou(result.mask, gt))
            candidates = engine.track_masks
            if candidates:
                h, w = next(iter(candidates.values())).shape
                small = cv2.resize(gt.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
            best.append(max((iou(m, small) for m in candidates.values()), default=0.0))
        out[f"{exp_id}_selected"] = float(np.mean(selected))
        out[f"{exp_id}_best_candidate"] = float(np.mean(best))
        engine.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["propagate", "detect", "ceiling"])
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--seq", action="append", help="sequence name (repeatable); default all")
    ap.add_argument("--set", action="append", default=[], help="config override section.key=value")
    ap.add_argument("--init-frame", type=int, default=0,
                    help="propagate: start from the ground-truth box on this frame (> 0 lets motion seed it)")
    ap.add_argument("--width", type=int, default=0, help="downscale frames to this width first (0 = 854 px)")
    ap.add_argument("--every", type=int, default=1, help="detect: run on every N-th frame (keyframes)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    config = load_config(None, dict(parse_override(s) for s in args.set))
    categories = json.loads((args.root / "categories.json").read_text())
    seqs = args.seq or sorted(categories)
    results: dict[str, dict[str, float]] = {}
    for seq in seqs:
        images, gts = load_sequence(args.root, seq, args.width)
        if args.mode == "propagate":
            results[seq] = propagate(config, images, gts, args.init_frame)
        elif args.mode == "ceiling":
            results[seq] = ceiling(config, images, gts, seq)
        else:
            results[seq] = detect(config, images, gts, sorted(set(categories[seq])), args.every)
        print(seq, json.dumps(results[seq]), file=sys.stderr)
    keys = next(iter(results.values())).keys()
    report = {"mode": args.mode, "per_sequence": results,
              "mean": {k: float(np.mean([r[k] for r in results.values()])) for k in keys}}
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
