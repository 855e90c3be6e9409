"""`parse-vos bench`: throughput, latency, memory, slow-reasoner, token-cost and ROS figures in one JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Measure throughput, latency and memory and write JSON (plus a PNG of FPS and RSS over the stream)."


def _resolution(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 64 or int(h) < 64:
        raise argparse.ArgumentTypeError(f"resolution must look like 640x480 (each side >= 64), got {text!r}")
    return int(w), int(h)


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``parse-vos bench``."""
    parser.add_argument("--out", type=Path, required=True, help="JSON result file (the plot goes next to it as .png)")
    parser.add_argument("--profile", default="default", help="config profile name or YAML path (default: default)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set tracking.embedded_flow=fast (repeatable)")
    parser.add_argument("--frames", type=_count, default=300,
                        help="measured frames per throughput and slow-reasoner run (default 300)")
    parser.add_argument("--resolution", type=_resolution, action="append", default=None, metavar="WxH",
                        help="frame size (repeatable; default 640x480 and 1280x720; the first one is used for "
                        "the long stream, slow-reasoner and ROS runs)")
    parser.add_argument("--long-frames", type=_count, default=20000,
                        help="frames of the memory run (default 20000; 0 skips it)")
    parser.add_argument("--slow-reasoner-s", type=float, default=2.0,
                        help="seconds the slow reasoner sleeps per call (default 2)")
    parser.add_argument("--ros-seconds", type=float, default=20.0, help="length of the ROS latency run (default 20)")
    parser.add_argument("--skip-ros", action="store_true", help="omit the ROS latency run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic streams")
    parser.add_argument("--llama-vocab", type=Path, default=None, metavar="GGUF",
                        help="Llama 3 tokenizer GGUF for the token counts (default: $PARSE_VOS_LLAMA_VOCAB, "
                        "then the copy `make setup` puts in the project cache)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; exit 0 when every measured target passes, 1 when one is missed, 2 on bad input."""
    from parse_vos_ros.bench.runner import BenchOptions, run_bench
    from parse_vos_ros.config import ConfigError, load_config, parse_override

    try:
        overrides = dict(parse_override(item) for item in args.set)
        config = load_config(args.profile, overrides)
    except ConfigError as exc:
        print(f"parse-vos bench: {exc}", file=sys.stderr)
        return 2
    if args.frames < 1 or args.slow_reasoner_s < 0:
        print("parse-vos bench: --frames must be >= 1 and --slow-reasoner-s >= 0", file=sys.stderr)
        return 2
    options = BenchOptions(
        profile=args.profile,
        frames=args.frames,
        resolutions=tuple(args.resolution or ((640, 480), (1280, 720))),
        long_frames=args.long_frames,
        slow_reasoner_s=args.slow_reasoner_s,
        skip_ros=args.skip_ros,
        ros_seconds=args.ros_seconds,
        seed=args.seed,
        llama_vocab=args.llama_vocab,
    )
    result = run_bench(config, options, args.out, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"wrote {args.out}" + (f" and {args.out.with_suffix('.png')}" if result["long_stream"] else ""))
    for t in result["targets"]:
        verdict = {True: "PASS", False: "MISS", None: "n/a "}[t["pass"]]
        print(f"  {verdict} {t['name']}: {t['value']} (target {t['target']}){'  ' + t['note'] if 'note' in t else ''}")
    return 1 if any(t["pass"] is False for t in result["targets"]) else 0
