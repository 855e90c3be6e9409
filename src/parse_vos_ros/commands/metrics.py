"""`parse-vos metrics`: J&F of a folder of predicted masks against a folder of ground truth.

Either both folders hold PNGs directly (one sequence), or both hold one sub-folder per
sequence (the DAVIS ``Annotations/`` layout). Files are matched by name; any value > 0 is
foreground; a ground-truth frame without a prediction is an error (it would silently raise
or lower the score otherwise).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from parse_vos_ros.eval.maskio import MaskReadError, read_mask
from parse_vos_ros.eval.metrics import SequenceScores, evaluate_sequence, mean_over_sequences

HELP = "J&F of predicted masks against ground-truth masks (DAVIS definition)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pred", required=True, type=Path, help="folder of predicted mask PNGs")
    parser.add_argument("--gt", required=True, type=Path, help="folder of ground-truth mask PNGs")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")


def _pngs(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.glob("*.png"))}


def score_folder(pred_dir: Path, gt_dir: Path) -> SequenceScores:
    """Scores of one sequence folder; raises ``MaskReadError`` naming missing/odd files."""
    gt_files = _pngs(gt_dir)
    if not gt_files:
        raise MaskReadError(f"{gt_dir}: no ground-truth PNG files")
    pred_files = _pngs(pred_dir)
    missing = [name for name in gt_files if name not in pred_files]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise MaskReadError(f"{pred_dir}: no prediction for {len(missing)} ground-truth frame(s): {shown}")
    names = list(gt_files)
    gt = np.stack([read_mask(gt_files[n]) for n in names])
    pred = []
    for name in names:
        mask = read_mask(pred_files[name])
        if mask.shape != gt.shape[1:]:
            size, gt_size = mask.shape[::-1], gt.shape[:0:-1]
            raise MaskReadError(f"{pred_files[name]}: size {size} differs from ground truth {gt_size}")
        pred.append(mask)
    return evaluate_sequence(gt, np.stack(pred), frames=names)


def score_tree(pred: Path, gt: Path) -> dict[str, SequenceScores]:
    """Scores per sequence: ``{"": scores}`` for flat folders, else one entry per GT sub-folder."""
    if any(gt.glob("*.png")):
        return {"": score_folder(pred, gt)}
    sequences = sorted(d for d in gt.iterdir() if d.is_dir())
    if not sequences:
        raise MaskReadError(f"{gt}: neither PNG files nor sequence folders")
    return {d.name: score_folder(pred / d.name, d) for d in sequences}


def run(args: argparse.Namespace) -> int:
    for label, folder in (("--pred", args.pred), ("--gt", args.gt)):
        if not folder.is_dir():
            print(f"parse-vos metrics: {label} {folder} is not a folder", file=sys.stderr)
            return 2
    try:
        scores = score_tree(args.pred, args.gt)
    except (MaskReadError, ValueError) as exc:
        print(f"parse-vos metrics: {exc}", file=sys.stderr)
        return 2
    summaries = {name: s.summary() for name, s in scores.items()}
    overall = mean_over_sequences(list(summaries.values()))
    if args.json:
        result = {
            "convention": "DAVIS J&F: J = IoU (empty union = 1); F = boundary F, tolerance ceil(0.008*diag); "
            "mean over sequences of per-sequence means; all frames with ground truth",
            "mean": overall,
            "sequences": {name: {"summary": summaries[name], "frames": s.per_frame()} for name, s in scores.items()},
        }
        print(json.dumps(result, indent=2))
        return 0
    for name, s in scores.items():
        prefix = f"{name}/" if name else ""
        for row in s.per_frame():
            print(f"{prefix}{row['frame']}\tJ={row['J']:.4f}\tF={row['F']:.4f}\tJ&F={row['J&F']:.4f}")
        if name:
            sm = summaries[name]
            print(f"{name}\tmean J={sm['J']:.4f}\tF={sm['F']:.4f}\tJ&F={sm['J&F']:.4f}")
    print(f"mean\tJ={overall['J']:.4f}\tF={overall['F']:.4f}\tJ&F={overall['J&F']:.4f}")
    return 0
