"""`parse-vos synth`: write a deterministic synthetic referring-VOS set (see ``parse_vos_ros.synth``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Generate synthetic scenes with look-alike objects that differ in motion (with masks and expressions)."


def parse_size(text: str) -> tuple[int, int]:
    """``"320x240"`` -> ``(320, 240)``; argparse reports a ValueError as a usage error."""
    width, sep, height = text.lower().partition("x")
    if not sep:
        raise argparse.ArgumentTypeError(f"size must look like WIDTHxHEIGHT, got {text!r}")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like WIDTHxHEIGHT, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder (DAVIS layout + meta_expressions.json)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    parser.add_argument("--scenes", type=int, default=20, help="number of scenes")
    parser.add_argument("--frames", type=int, default=30, help="frames per scene")
    parser.add_argument("--size", type=parse_size, default=(320, 240), help="frame size WIDTHxHEIGHT (default 320x240)")
    parser.add_argument("--depth", action="store_true",
                        help="also write a 16UC1 depth PNG per frame (millimetres), the intrinsics and the objects' "
                             "true 3D centres under Depth/SEQ/")


def run(args: argparse.Namespace) -> int:
    from parse_vos_ros.synth import write_dataset

    def progress(done: int, total: int) -> None:
        print(f"\rsynth: {done}/{total} scenes", end="" if done < total else "\n", file=sys.stderr, flush=True)

    try:
        meta = write_dataset(args.out, args.seed, args.scenes, args.frames, args.size, progress=progress,
                             depth=args.depth)
    except ValueError as exc:
        print(f"parse-vos synth: {exc}", file=sys.stderr)
        return 2
    videos = meta["videos"]
    assert isinstance(videos, dict)
    n_exp = sum(len(v["expressions"]) for v in videos.values())
    print(f"wrote {len(videos)} scenes, {n_exp} expressions to {args.out} (meta: {args.out / 'meta_expressions.json'})")
    return 0
