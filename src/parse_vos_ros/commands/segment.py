"""`parse-vos segment`: run the engine over a video file or image folder and write the results.

Outputs in ``--out``: ``masks/NNNNN.png`` (0/255, input resolution), ``overlay.mp4`` (or
``overlay.avi`` where no MP4 encoder exists), ``result.json`` (parsed command, per-frame state,
box, track ids and score, the distinct reasoning traces, timing). All written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from parse_vos_ros.atomic import atomic_write_json
from parse_vos_ros.config import ConfigError, load_config, parse_override

HELP = "Segment the referred object in a video or image folder and write masks, overlays and a JSON trace."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="video file or folder of frames")
    parser.add_argument("--command", "--query", dest="text", required=True, help="the referring sentence")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--config", default="default", help="profile name or YAML path (default: default)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)"
    )
    parser.add_argument("--offline", action="store_true", help="whole-video mode: revise frames at the end")
    parser.add_argument("--fps", type=float, default=None, help="frame rate for stamps (default: the input's)")
    parser.add_argument("--no-video", action="store_true", help="skip overlay video")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0 = all)")


def _progress(i: int, total: int, start: float) -> None:
    rate = (i + 1) / max(time.perf_counter() - start, 1e-9)
    of = f"/{total}" if total else ""
    print(f"\r  frame {i + 1}{of}  {rate:.1f} fps", end="", file=sys.stderr, flush=True)


def _frame_record(res: Any, trace_index: int) -> dict[str, Any]:
    return {
        "index": res.index,
        "stamp": round(res.stamp, 6),
        "state": res.state.value,
        "box": None if res.box is None else [round(float(v), 1) for v in res.box],
        "track_ids": list(res.track_ids),
        "score": round(float(res.score), 4),
        "trace": trace_index,
        "ms": round(res.timings_ms.get("total", 0.0), 2),
    }


def run(args: argparse.Namespace) -> int:
    # Imported here so `parse-vos --help` stays fast and free of OpenCV/engine imports.
    from parse_vos_ros.backends import BackendLoadError
    from parse_vos_ros.engine import Engine, run_offline
    from parse_vos_ros.parsing.base import CommandParseError
    from parse_vos_ros.video_io import FrameSource, OverlayWriter, VideoInputError, overlay, write_mask_png

    try:
        overrides = dict(parse_override(s) for s in args.set)
        config = load_config(args.config, overrides)
        source = FrameSource(args.input, args.fps)
        engine = Engine(config)
    except (ConfigError, VideoInputError, BackendLoadError) as exc:
        print(f"parse-vos segment: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    masks_dir = out / "masks"
    masks_dir.mkdir(parents=True, exist_ok=True)
    limit = args.max_frames if args.max_frames > 0 else None
    total = min(len(source), limit) if limit else len(source)
    try:
        parsed = engine.set_command(args.text, 0.0, "cli")
    except CommandParseError as exc:
        print(f"parse-vos segment: cannot parse the command: {exc}", file=sys.stderr)
        return 2

    def frames():
        for i, image, stamp in source:
            if limit is not None and i >= limit:
                return
            yield i, image, stamp

    start = time.perf_counter()
    traces: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    video_path = out / "overlay.mp4"
    try:
        with OverlayWriter(video_path, source.fps) as video:

            def emit(res: Any, image: np.ndarray) -> None:
                trace = {k: v for k, v in res.trace.items() if k != "keyframe"}
                if not traces or traces[-1] != trace:
                    traces.append(trace)
                records.append(_frame_record(res, len(traces) - 1))
                write_mask_png(masks_dir / f"{res.index:05d}.png", res.mask)
                if not args.no_video:
                    label = f"{res.state.value} {list(res.track_ids)}  {args.text}"[:80]
                    video.write(overlay(image, res.mask, res.box, label))

            if args.offline:
                images = [image for _, image, _ in frames()]
                results = run_offline(engine, images, parsed, fps=source.fps)
                for res, image in zip(results, images, strict=True):
                    emit(res, image)
            else:
                for i, image, stamp in frames():
                    emit(engine.push_frame(image, stamp), image)
                    if total > 50 and (i % 10 == 0 or i + 1 == total):
                        _progress(i, total, start)
            video_path = video.path
    except VideoInputError as exc:
        print(f"\nparse-vos segment: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.close()
    elapsed = time.perf_counter() - start
    if total > 50 and not args.offline:
        print(file=sys.stderr)
    result = {
        "input": str(args.input),
        "command": {"text": parsed.text, "source": parsed.source, **parsed.to_dict()},
        "mode": "offline" if args.offline else "streaming",
        "config": args.config,
        "overrides": overrides,
        "fps": source.fps,
        "frames": records,
        "traces": traces,
        "selected": records[-1]["track_ids"] if records else [],
        "timing": {"seconds": round(elapsed, 3), "fps": round(len(records) / max(elapsed, 1e-9), 2)},
        "stats": engine.stats(),
    }
    atomic_write_json(out / "result.json", json.loads(json.dumps(result, default=_jsonable)))
    print(f"{len(records)} frames -> {masks_dir}/, {out / 'result.json'}", end="")
    print(f", {video_path}" if not args.no_video and records else "")
    return 0


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
