"""Per-track distance history for the sliding window (metres, from the aligned depth image).

The track store keeps boxes and areas; this keeps, beside it and with the same window bound,
each track's measured distance (median depth under its mask) per frame, so trajectories handed
to the reasoners carry metric distance and radial speed when depth is available.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable, Mapping

import numpy as np

STAMP_TOLERANCE_S = 1e-6  # a trajectory sample and a distance sample of the same frame share the stamp


class DistanceHistory:
    """Bounded ``{track_id: [(stamp, metres), ...]}``, oldest first.

    Args:
        window_s: samples older than this before the newest are dropped.
        max_samples: at most this many samples per track (the oldest go first).
    """

    def __init__(self, window_s: float, max_samples: int) -> None:
        self.window_s = window_s
        self.max_samples = max(1, max_samples)
        self._samples: dict[int, collections.deque[tuple[float, float]]] = {}

    def clear(self) -> None:
        """Forget every track."""
        self._samples.clear()

    def record(self, stamp: float, distances: Mapping[int, float], live: Iterable[int] | None = None) -> None:
        """Add this frame's distances (NaN = unmeasured) and forget tracks not in ``live`` (None: keep all)."""
        if live is not None:
            keep = set(live)
            for tid in [t for t in self._samples if t not in keep]:
                del self._samples[tid]
        for tid, metres in distances.items():
            if not math.isfinite(metres):
                continue
            samples = self._samples.setdefault(tid, collections.deque(maxlen=self.max_samples))
            samples.append((stamp, float(metres)))
        for samples in self._samples.values():
            while samples and stamp - samples[0][0] > self.window_s:
                samples.popleft()

    def latest(self, track_id: int) -> float:
        """The newest distance of a track in metres, NaN when never measured."""
        samples = self._samples.get(track_id)
        return samples[-1][1] if samples else math.nan

    def at(self, track_id: int, stamps: np.ndarray) -> np.ndarray:
        """``(T,) float`` distances at ``stamps`` ``(T,)`` seconds, NaN where not measured."""
        out = np.full(len(stamps), np.nan)
        samples = self._samples.get(track_id)
        if not samples:
            return out
        times = np.array([s for s, _ in samples])
        values = np.array([d for _, d in samples])
        idx = np.clip(np.searchsorted(times, stamps), 0, len(times) - 1)
        for k in (idx, np.maximum(idx - 1, 0)):
            hit = np.abs(times[k] - stamps) <= STAMP_TOLERANCE_S
            out[hit] = values[k][hit]
        return out

    def __bool__(self) -> bool:
        return any(self._samples.values())
