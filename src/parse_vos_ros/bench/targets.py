"""The issue's performance targets and their pass/fail on a bench result.

The thresholds are the issue's and are not parameters: a missed target is reported, never relaxed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FPS_TARGETS = {"640x480": 30.0, "1280x720": 15.0}
P99_OVER_MEDIAN = 2.0
RSS_GROWTH = 0.05
SLOW_REASONER_P99_INCREASE = 0.20
ROS_P95_MS = 60.0


def _target(name: str, value: Any, op: str, limit: float, note: str = "") -> dict[str, Any]:
    passed = None  # not measured in this run
    if value is not None:
        passed = bool(value >= limit) if op == ">=" else bool(value < limit)
    out = {"name": name, "value": value, "target": f"{op} {limit:g}", "pass": passed}
    if note:
        out["note"] = note
    return out


def evaluate(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Pass/fail per target; ``pass`` is None for figures this run did not measure."""
    out = []
    for run in result.get("throughput", []):
        res = run["resolution"]
        if res in FPS_TARGETS:
            out.append(_target(f"fps_{res}", run["fps"], ">=", FPS_TARGETS[res]))
        frame = run["frame_ms"]
        ratio = round(frame["p99"] / frame["p50"], 3) if frame["p50"] > 0 else None
        out.append(_target(f"p99_over_median_{res}", ratio, "<", P99_OVER_MEDIAN))
    long_run = result.get("long_stream") or {}
    frames = long_run.get("frames", 0)
    note = "" if frames >= 20000 else f"stream of {frames} frames, shorter than the 20,000 the target names"
    out.append(_target("rss_growth_2000_to_end", long_run.get("rss_growth"), "<", RSS_GROWTH, note))
    slow = result.get("slow_reasoner") or {}
    out.append(_target("slow_reasoner_p99_increase", slow.get("p99_increase"), "<", SLOW_REASONER_P99_INCREASE))
    ros = result.get("ros") or {}
    out.append(_target("ros_e2e_p95_ms", ros.get("latency_ms_p95"), "<", ROS_P95_MS,
                       ros.get("skipped", "") or ros.get("error", "")))
    return out
