"""Soak benchmark (issue 9): a real-time 30 Hz replay through the engine with a new command every
20 s; checks no crash, no memory growth, no stuck state, and writes JSON.

    .venv/bin/python benchmarks/soak.py --minutes 30 --out out/soak.json [--source VIDEO_OR_FOLDER]

Exit code 0 when every check passes, 1 otherwise. The code is ``parse_vos_ros.bench.soak``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from parse_vos_ros.atomic import atomic_write_json
from parse_vos_ros.bench.soak import SoakOptions, run_soak
from parse_vos_ros.config import load_config, parse_override


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON result file")
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the replay (default 30)")
    parser.add_argument("--fps", type=float, default=30.0, help="replay rate in Hz (default 30)")
    parser.add_argument("--command-every", type=float, default=20.0, help="seconds between commands (default 20)")
    parser.add_argument("--source", type=Path, default=None,
                        help="video file or image folder to loop (default: the synthetic stream)")
    parser.add_argument("--resolution", default="640x480", help="synthetic frame size WxH (default 640x480)")
    parser.add_argument("--profile", default="default", help="config profile (default: default)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.fps <= 0 or args.command_every <= 0:
        parser.error("--minutes, --fps and --command-every must be > 0")
    width, _, height = args.resolution.lower().partition("x")
    if not (width.isdigit() and height.isdigit()):
        parser.error(f"--resolution must look like 640x480, got {args.resolution!r}")
    config = load_config(args.profile, dict(parse_override(s) for s in args.set))
    options = SoakOptions(minutes=args.minutes, fps=args.fps, command_every_s=args.command_every,
                          width=int(width), height=int(height), source=args.source)
    result = run_soak(config, options, log=lambda line: print(line, file=sys.stderr, flush=True))
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in result["checks"].items()))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
