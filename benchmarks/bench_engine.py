"""Engine benchmarks of issue 8 (throughput, per-stage time, latency, memory, slow reasoner,
token cost, ROS latency, physical limits) in one run: the same as ``parse-vos bench``.

    .venv/bin/python benchmarks/bench_engine.py --out out/bench.json [--frames N] [--skip-ros] ...

The code lives in ``parse_vos_ros.bench`` so the installed package can run it too.
"""

from __future__ import annotations

import sys

from parse_vos_ros.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
