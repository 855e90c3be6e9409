#!/usr/bin/env python3
"""Detection recall of the referred target, per grounding backend, and the learned detector's costs.

For every expression of a DAVIS-layout dataset, on every ``--every``-th frame (the keyframes), the
detector is asked for the parsed command's candidate phrases; against the ground-truth box (the
box of the union mask) it reports:
- ``top``: IoU of the top-scoring box (what a track would start from first);
- ``best``: the best IoU among all the boxes returned for the phrases (the target is among the
  candidates at all);
- recall@0.5 of both, and which detection path named the top box.
Then the learned detector's per-keyframe times at 640x480: YOLOX alone, and one crop recognition.

    PYTHONPATH=src python scripts/detection_recall.py --root ../shared/data/davis2016 \\
        --expressions data/expressions/davis2016_meta_expressions.json --backend learned embedded

Recall is measured, never tuned against: the thresholds of the learned path are set in code
from what the models output, not from these numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from parse_vos_ros.backends import build_detector, build_parser
from parse_vos_ros.config import load_config
from parse_vos_ros.eval.datasets import read_davis
from parse_vos_ros.geometry import iou_matrix, mask_box
from parse_vos_ros.types import FrameContext

IOU_HIT = 0.5
BENCH_SIZE = (640, 480)  # (W, H) of the timing frames
BENCH_REPEATS = 20


def measure(backend: str, items: list, every: int) -> dict[str, object]:
    config = load_config(None, {"grounding.backend": backend})
    detector = build_detector(config)
    parser = build_parser(config)
    per_item = []
    for item in items:
        phrases = parser.parse(item.text).candidates
        gt = item.ground_truth()
        tops, bests, sources = [], [], Counter()
        prev_gray = None
        for k, image in enumerate(item.frames()):
            gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
            if k % every == 0:
                box = mask_box(gt[k])
                frame = FrameContext(index=k, stamp=k / item.fps, image=image, gray=gray, prev_gray=prev_gray)
                dets = detector.detect(frame, list(phrases))
                if box is not None:
                    ious = iou_matrix(np.array([d.box for d in dets]).reshape(-1, 4), box)[:, 0]
                    tops.append(float(ious[0]) if len(dets) else 0.0)
                    bests.append(float(ious.max()) if len(dets) else 0.0)
                    sources[(dets[0].source.split(":")[0] or "?") if dets else "none"] += 1
            prev_gray = gray
        per_item.append({
            "key": item.key, "text": item.text, "phrases": list(phrases),
            "top_iou": round(statistics.fmean(tops), 3), "best_iou": round(statistics.fmean(bests), 3),
            "top_recall": round(float(np.mean(np.array(tops) >= IOU_HIT)), 3),
            "best_recall": round(float(np.mean(np.array(bests) >= IOU_HIT)), 3),
            "top_sources": dict(sources),
        })
        print(f"{backend:9s} {item.key:26s} top IoU {per_item[-1]['top_iou']:.2f} "
              f"R@.5 {per_item[-1]['top_recall']:.2f} | best {per_item[-1]['best_iou']:.2f} "
              f"R@.5 {per_item[-1]['best_recall']:.2f}  {phrases} {dict(sources)}", flush=True)
    keys = ("top_iou", "best_iou", "top_recall", "best_recall")
    return {"backend": backend, "items": per_item,
            "mean": {k: round(statistics.fmean(float(r[k]) for r in per_item), 3) for k in keys}}


def timings(image: np.ndarray, threads: int) -> dict[str, float]:
    """Median and p90 ms of YOLOX and of one crop recognition on a 640x480 frame."""
    from parse_vos_ros.grounding.crop_classifier import CropClassifier
    from parse_vos_ros.grounding.learned import CLASSIFIER_FILE, YOLOX_FILE
    from parse_vos_ros.grounding.yolox import YoloxDetector
    from parse_vos_ros.models import vendored_path

    frame = cv2.resize(image, BENCH_SIZE, interpolation=cv2.INTER_AREA)
    yolox = YoloxDetector(vendored_path(YOLOX_FILE), threads, 0.25, 0.45)
    classifier = CropClassifier(vendored_path(CLASSIFIER_FILE), threads)
    box = np.array([200, 100, 440, 400], float)
    out: dict[str, float] = {}
    for name, call in (("yolox_ms", lambda: yolox(frame)),
                       ("crop_ms", lambda: classifier.probabilities(frame, box[None]))):
        call()  # warm-up
        times = []
        for _ in range(BENCH_REPEATS):
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1e3)
        out[f"{name}_median"] = round(statistics.median(times), 1)
        out[f"{name}_p90"] = round(float(np.percentile(times, 90)), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="DAVIS-layout dataset root")
    parser.add_argument("--expressions", type=Path, required=True, help="meta_expressions.json")
    parser.add_argument("--backend", nargs="+", default=["learned", "embedded"])
    parser.add_argument("--every", type=int, default=15, help="measure every this many frames (keyframes)")
    parser.add_argument("--threads", type=int, default=1, help="model threads for the timings")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    args = parser.parse_args(argv)
    items = read_davis(args.root, args.expressions)
    report: dict[str, object] = {"every": args.every, "iou_hit": IOU_HIT}
    report["backends"] = [measure(b, items, args.every) for b in args.backend]
    first = next(items[0].frames())
    report["timings"] = timings(first, args.threads)
    for r in report["backends"]:  # type: ignore[union-attr]
        print(f"{r['backend']}: {r['mean']}")
    print(f"timings at {BENCH_SIZE[0]}x{BENCH_SIZE[1]}, {args.threads} thread(s): {report['timings']}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
