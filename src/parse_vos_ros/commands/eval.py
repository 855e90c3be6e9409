"""`parse-vos eval`: run the engine on a benchmark and write metrics, a report, plots and overlays."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Run the engine on a benchmark dataset and write metrics, a report and plots."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from parse_vos_ros.eval.datasets import DATASETS
    from parse_vos_ros.eval.runner import MODES

    parser.add_argument("--dataset", required=True, choices=DATASETS, help="dataset layout")
    parser.add_argument("--root", required=True, type=Path, help="dataset root folder")
    parser.add_argument(
        "--expressions",
        type=Path,
        default=None,
        help="expression file: meta_expressions.json, or a Ref-DAVIS17 Davis17_annot*.txt "
        "(default: the dataset's own location, ROOT/meta_expressions.json for davis/synth)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder (re-running it resumes)")
    parser.add_argument("--config", default="default", help="profile name or YAML file (default: default)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set engine.keyframe_interval=10 (repeatable)",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="offline",
        help="offline: whole video, may revise earlier frames (the paper's setting); streaming: causal, frame by frame",
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="streaming: feed each video's frames at its own frame rate in real time, as a camera does "
        "(default: back to back, as fast as the engine takes them)",
    )
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes (each has its own engine)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N expressions")
    parser.add_argument(
        "--engine-factory",
        default=None,
        metavar="MODULE:FUNCTION",
        help="build the engine with FUNCTION(config) instead of Engine(config)",
    )
    parser.add_argument("--no-report", action="store_true", help="write metrics.json only (no plots, no videos)")


def run(args: argparse.Namespace) -> int:
    from parse_vos_ros.config import ConfigError, parse_override
    from parse_vos_ros.eval.datasets import DatasetError
    from parse_vos_ros.eval.runner import EngineBuildError, EvalOptions, run_eval

    try:
        overrides = dict(parse_override(text) for text in args.overrides)
        options = EvalOptions(
            dataset=args.dataset,
            root=args.root,
            expressions=args.expressions,
            out=args.out,
            profile=args.config,
            overrides=overrides,
            mode=args.mode,
            workers=args.workers,
            limit=args.limit,
            engine_factory=args.engine_factory,
            realtime=args.realtime,
        )
        metrics = run_eval(options, stream=sys.stderr, report=not args.no_report)
    except (ConfigError, DatasetError, EngineBuildError, ValueError) as exc:
        print(f"parse-vos eval: {exc}", file=sys.stderr)
        return 2
    overall = metrics["overall"]
    if overall:
        pacing = ", real time" if metrics["realtime"] else ""
        print(
            f"{metrics['dataset']} ({metrics['mode']}{pacing}, profile {metrics['profile']}): "
            f"J&F {overall['J&F']:.3f}  J {overall['J']:.3f}  F {overall['F']:.3f}  "
            f"over {metrics['counts']['scored']} expressions"
        )
        stages = metrics.get("overall_stages") or {}
        if stages:
            print(
                f"stages: detection recall {stages['detection_recall']:.3f} "
                f"(best box IoU {stages['detection_best_iou']:.3f})  "
                f"best-candidate IoU {stages['best_candidate_iou']:.3f}  selected IoU {stages['selected_iou']:.3f}"
            )
    else:
        print(f"{metrics['dataset']}: no ground truth; predictions under {args.out / 'Annotations'}")
    position = metrics.get("position_3d")
    if position:
        print(f"3D position error: mean {position['abs_m_mean']:.3f} m, median {position['abs_m_median']:.3f} m; "
              f"relative mean {100 * position['rel_mean']:.2f} %, median {100 * position['rel_median']:.2f} %; "
              f"coverage {position['coverage']:.2f} of {position['frames']:.0f} in-view frames")
    print(f"metrics: {args.out / 'metrics.json'}" + ("" if args.no_report else f"  report: {args.out / 'report.md'}"))
    if metrics["failed"]:
        print(f"{len(metrics['failed'])} expression(s) failed (scored 0); see the report", file=sys.stderr)
        return 1
    return 0
