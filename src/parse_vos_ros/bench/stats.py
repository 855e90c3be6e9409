"""Small measurement helpers: percentiles, process memory, linear slopes."""

from __future__ import annotations

import os
import resource
from collections.abc import Sequence

import numpy as np

_PAGE_KB = os.sysconf("SC_PAGE_SIZE") / 1024.0


def summarize_ms(samples_ms: Sequence[float]) -> dict[str, float]:
    """Mean, median and tail percentiles of durations in milliseconds (empty -> zeros)."""
    if len(samples_ms) == 0:
        return {"n": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    arr = np.asarray(samples_ms, dtype=np.float64)
    p50, p90, p95, p99 = np.percentile(arr, [50, 90, 95, 99])
    return {
        "n": int(arr.size),
        "mean": round(float(arr.mean()), 3),
        "p50": round(float(p50), 3),
        "p90": round(float(p90), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "max": round(float(arr.max()), 3),
    }


def rss_kb() -> float:
    """Current resident set size of this process in KiB (from /proc/self/statm)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        resident_pages = int(fh.read().split()[1])
    return resident_pages * _PAGE_KB


def peak_rss_kb() -> float:
    """Peak resident set size of this process so far in KiB (Linux ``ru_maxrss`` is KiB)."""
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def slope_per_1000(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``y`` against ``x`` scaled to per 1,000 units of ``x`` (0 if < 2 points)."""
    if len(x) < 2:
        return 0.0
    xs = np.asarray(x, dtype=np.float64)
    if np.ptp(xs) == 0:
        return 0.0
    slope = np.polyfit(xs, np.asarray(y, dtype=np.float64), 1)[0]
    return float(slope * 1000.0)


def value_near(x: Sequence[float], y: Sequence[float], at: float, half_width: float) -> float | None:
    """Median of the ``y`` samples whose ``x`` lies within ``at +- half_width`` (None when none do).

    The median over a few samples keeps one allocator hiccup from deciding a growth figure.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    sel = np.abs(xs - at) <= half_width
    if not sel.any():
        return None
    return float(np.median(ys[sel]))
