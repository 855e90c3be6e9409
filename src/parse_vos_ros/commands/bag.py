"""`parse-vos bag make|replay|record|eval`: rosbag2 tools (sqlite3 and mcap, via rosbags)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from parse_vos_ros.config import ConfigError, load_config, parse_override
from parse_vos_ros.ros_env import RosUnavailableError, ensure_ros

if TYPE_CHECKING:
    from parse_vos_ros.ros.bag import BagContents, EvalResult

HELP = "Make, replay, record and evaluate rosbag2 files."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bag_command", metavar="ACTION", required=True)

    make = sub.add_parser("make", help="frames/video + timed commands + optional GT masks -> bag")
    make.add_argument("out", type=Path, help="bag directory to create")
    make.add_argument("--frames", required=True, type=Path, help="image folder (sorted by name) or video file")
    make.add_argument("--gt", type=Path, help="folder of PNG ground-truth masks, one per frame (nonzero = target)")
    make.add_argument("--command", action="append", default=[], metavar="SECONDS:TEXT",
                      help="a command at SECONDS after the first frame, e.g. '0:the dog' (repeatable)")
    make.add_argument("--fps", type=float, default=30.0)
    make.add_argument("--max-frames", type=int, default=0, help="0 = all")
    make.add_argument("--max-width", type=int, default=0, help="downscale wider frames (0 = keep)")
    make.add_argument("--start-stamp", type=float, default=1000.0, help="stamp of the first frame (s)")
    make.add_argument("--storage", choices=["sqlite3", "mcap"], default="sqlite3")
    make.add_argument("--depth", type=Path, metavar="DIR",
                      help="aligned depth: a folder of 16-bit PNGs in millimetres, one per frame, with camera.json "
                           "(intrinsics; the layout `parse-vos synth --depth` writes under Depth/SEQ) -> /depth and "
                           "/camera_info topics")

    replay = sub.add_parser("replay", help="publish a bag into the live ROS graph at its recorded timing")
    replay.add_argument("bag", type=Path)
    replay.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    replay.add_argument("--remap", action="append", default=[], metavar="FROM:=TO")
    replay.add_argument("--topics", nargs="+", help="bag topics to replay (default: all)")
    replay.add_argument("--wait-for", nargs="+", default=[], metavar="TOPIC",
                        help="bag topics that must have a subscriber before starting")
    replay.add_argument("--best-effort", action="store_true", help="publish best effort (default reliable)")

    record = sub.add_parser("record", help="record topics from the live graph into a new bag")
    record.add_argument("out", type=Path)
    record.add_argument("--topics", nargs="+", default=["/target", "/mask", "/reasoning"])
    record.add_argument("--duration", type=float, default=0.0, help="seconds (0 = until Ctrl-C)")
    record.add_argument("--max-messages", type=int, default=0, help="stop after this many (0 = no limit)")
    record.add_argument("--storage", choices=["sqlite3", "mcap"], default="sqlite3")
    record.epilog = ('ends on Ctrl-C, --duration, --max-messages, or a line "stop" on stdin (what is still '
                     'on its way is recorded first)')

    ev = sub.add_parser("eval", help="run the engine on a bag and score J&F against its GT masks")
    mode = ev.add_mutually_exclusive_group(required=True)
    mode.add_argument("--node", action="store_true", help="through a live node process (replay + record)")
    mode.add_argument("--offline", action="store_true", help="in this process, every frame")
    ev.add_argument("bag", type=Path)
    ev.add_argument("--config", default="default", help="profile name or YAML path")
    ev.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ev.add_argument("--rate", type=float, default=1.0, help="--node: playback speed factor")
    ev.add_argument("--lockstep", type=float, default=0.0, metavar="SECONDS",
                    help="--node: send each image only after the previous one's target came back (waiting at most "
                         "SECONDS), so every frame is answered on any machine (0 = real-time replay)")
    ev.add_argument("--out", type=Path, help="write summary.json, per_frame.json and overlay.mp4 here")

    demo = sub.add_parser("demo", help="frames -> bag -> node process (outputs recorded by another) -> "
                                       "overlay video + summary")
    demo.add_argument("--frames", type=Path, default=Path("samples/bedroom"), help="image folder or video")
    demo.add_argument("--command", default="0.3:the girl in the blue skirt jumping on the bed", metavar="SECONDS:TEXT")
    demo.add_argument("--fps", type=float, default=15.0)
    demo.add_argument("--config", default="default", help="profile name or YAML path")
    demo.add_argument("--out", type=Path, default=Path("out/ros_demo"))


def run(args: argparse.Namespace) -> int:
    from parse_vos_ros.ros.bag import BagError

    try:
        return int(_ACTIONS[args.bag_command](args))
    except (BagError, ConfigError, TimeoutError, FileExistsError) as exc:
        print(f"parse-vos bag {args.bag_command}: {exc}", file=sys.stderr)
        return 2
    except RosUnavailableError as exc:
        print(f"parse-vos bag {args.bag_command}: {exc}", file=sys.stderr)
        return 2


def _make(args: argparse.Namespace) -> int:
    from parse_vos_ros.ros import bag

    frames = bag.load_frames(args.frames, args.max_frames, args.max_width)
    masks = bag.load_masks(args.gt, len(frames), args.max_width) if args.gt else None
    depth = None
    if args.depth:
        from parse_vos_ros.synth_depth import read_depth_folder

        if args.max_width:
            raise bag.BagError("--depth cannot be combined with --max-width (depth and intrinsics are not rescaled)")
        try:
            depth = read_depth_folder(args.depth)[0][: len(frames)]
        except ValueError as exc:
            raise bag.BagError(str(exc)) from None
    commands = []
    for i, text in enumerate(args.command):
        cmd = bag.parse_timed_command(text)
        commands.append(bag.TimedCommand(args.start_stamp + cmd.stamp, cmd.text, f"cmd-{i + 1}"))
    count = bag.make_bag(args.out, frames, fps=args.fps, commands=commands, gt_masks=masks,
                         start_stamp=args.start_stamp, storage=args.storage, depth=depth)
    print(f"wrote {args.out}: {count} frames, {len(commands)} commands, GT masks: {'yes' if masks else 'no'}, "
          f"depth: {'yes' if depth else 'no'}")
    return 0


def _remaps(items: list[str]) -> dict[str, str]:
    from parse_vos_ros.ros.bag import BagError

    out = {}
    for item in items:
        src, sep, dst = item.partition(":=")
        if not sep or not src or not dst:
            raise BagError(f"a remap must look like FROM:=TO, got {item!r}")
        out[src] = dst
    return out


def _replay(args: argparse.Namespace) -> int:
    ensure_ros()
    import rclpy

    from parse_vos_ros.ros.bag_live import replay

    rclpy.init()
    node = rclpy.create_node("parse_vos_bag_replay")
    try:
        stats = replay(node, args.bag, rate=args.rate, remap=_remaps(args.remap), topics=args.topics,
                       wait_for=args.wait_for, best_effort=args.best_effort)
        print(json.dumps({"published": stats.published}))
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def _record(args: argparse.Namespace) -> int:
    ensure_ros()
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from parse_vos_ros.ros.bag_live import STOP_LINE, record
    from parse_vos_ros.ros.stop_signals import stop_on_signals

    stop = threading.Event()

    def watch_stdin() -> None:
        # A parent process ends the recording with a "stop" line; end of input is not a stop
        # (a recorder started with stdin from /dev/null runs until Ctrl-C).
        for line in sys.stdin:
            if line.strip() == STOP_LINE:
                stop.set()
                return

    threading.Thread(target=watch_stdin, name="parse-vos-record-stdin", daemon=True).start()
    # SIGINT/SIGTERM stop it as the "stop" line does (draining what is on its way), between
    # callbacks, instead of rclpy's handlers cutting a write short.
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    try:
        with stop_on_signals(stop):
            counts = record(args.out, args.topics, storage=args.storage, duration_s=args.duration,
                            max_messages=args.max_messages, stop=stop,
                            on_ready=lambda: print(f"recording {args.topics} into {args.out}", flush=True))
    finally:
        rclpy.try_shutdown()
    print(json.dumps({"recorded": counts}))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from parse_vos_ros.ros import bag

    overrides = [parse_override(s) for s in args.set]
    config = load_config(args.config, dict(overrides))
    contents = bag.read_bag(args.bag)
    latency: dict[int, float] = {}
    if args.offline:
        from parse_vos_ros.engine import Engine

        with Engine(config) as engine:
            predictions = bag.run_offline(contents, engine)
    else:
        ensure_ros()
        import rclpy

        from parse_vos_ros.ros.bag_live import run_through_node

        rclpy.init()
        try:
            run = run_through_node(args.bag, profile=args.config, overrides=args.set, rate=args.rate,
                                   log_path=args.out / "node.log" if args.out else None, lockstep_s=args.lockstep)
        finally:
            rclpy.try_shutdown()
        predictions, latency = run.masks, run.latency_ms
    result = bag.score(contents, predictions)
    summary = {"bag": str(args.bag), "mode": "node" if args.node else "offline", "profile": args.config,
               **result.summary, "outputs": len(predictions), "images": len(contents.images)}
    if latency:
        values = np.array(list(latency.values()))
        summary.update({f"latency_ms_p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)})
    if args.out:
        _write_outputs(args.out, contents, result, summary)
    print(json.dumps(summary, indent=2))
    return 0


def _demo(args: argparse.Namespace) -> int:
    import collections
    import shutil

    from parse_vos_ros.atomic import atomic_write_json
    from parse_vos_ros.ros import bag

    ensure_ros()
    import rclpy

    from parse_vos_ros.ros.bag_live import run_through_node
    from parse_vos_ros.ros.messages import STATE_CODES

    load_config(args.config)  # fail early on a bad profile
    args.out.mkdir(parents=True, exist_ok=True)
    in_bag, out_bag = args.out / "input_bag", args.out / "outputs_bag"
    for old in (in_bag, out_bag):
        shutil.rmtree(old, ignore_errors=True)
    frames = bag.load_frames(args.frames)
    cmd = bag.parse_timed_command(args.command)
    start = 1000.0
    bag.make_bag(in_bag, frames, fps=args.fps, commands=[bag.TimedCommand(start + cmd.stamp, cmd.text, "demo")],
                 start_stamp=start)
    print(f"replaying {len(frames)} frames with '{cmd.text}' at {cmd.stamp:g} s into a node ({args.config})")
    rclpy.init()
    try:
        run = run_through_node(in_bag, profile=args.config, log_path=args.out / "node.log", record_path=out_bag)
    finally:
        rclpy.try_shutdown()
    contents = bag.read_bag(in_bag)
    recorded = bag.read_outputs(out_bag)
    names = {code: state.value for state, code in STATE_CODES.items()}
    latency = np.array(list(run.latency_ms.values())) if run.latency_ms else np.zeros(0)
    summary: dict[str, object] = {
        "frames": len(contents.images),
        "command": cmd.text,
        "outputs_received": len(run.masks),
        "outputs_recorded": len(recorded),
        "states": dict(collections.Counter(names.get(s, str(s)) for s in run.states.values())),
        **{f"latency_ms_p{q}": float(np.percentile(latency, q)) for q in (50, 95, 99) if latency.size},
        "input_bag": str(in_bag),
        "outputs_bag": str(out_bag),
        "overlay": str(args.out / "overlay.mp4"),
    }
    atomic_write_json(args.out / "summary.json", summary)
    _write_overlay(args.out / "overlay.mp4", contents, run.masks)
    print(json.dumps(summary, indent=2))
    return 0


def _write_outputs(out: Path, contents: BagContents, result: EvalResult, summary: dict[str, object]) -> None:
    """summary.json, per_frame.json and an overlay video, each written atomically."""
    from parse_vos_ros.atomic import atomic_write_json

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "summary.json", summary)
    atomic_write_json(out / "per_frame.json", result.per_frame)
    _write_overlay(out / "overlay.mp4", contents, result.predictions)


def _write_overlay(path: Path, contents: BagContents, predictions: dict[int, np.ndarray]) -> None:
    """The bag's frames with the predicted masks tinted (a frame without output shows the last one)."""
    import cv2

    from parse_vos_ros.atomic import atomic_path
    from parse_vos_ros.image_codec import overlay
    from parse_vos_ros.ros.bag import stamp_ns

    if not contents.images:
        return
    h, w = contents.images[0].shape[:2]
    fps = 1.0 / np.median(np.diff(contents.stamps)) if len(contents.stamps) > 1 else 30.0
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
        held = np.zeros((h, w), bool)
        for stamp, image in zip(contents.stamps, contents.images, strict=True):
            held = predictions.get(stamp_ns(stamp), held)
            view = overlay(image, held, None) if image.shape[:2] == (h, w) and held.shape == (h, w) else image
            writer.write(cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
        writer.release()


_ACTIONS = {"make": _make, "replay": _replay, "record": _record, "eval": _eval, "demo": _demo}
