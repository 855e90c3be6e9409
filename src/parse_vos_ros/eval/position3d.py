"""3D position error of the target (``parse-vos eval`` on data with depth, e.g. ``synth --depth``).

Per frame on which a referred object is in view (its true centre is known), the error is the
distance from that centre to the nearest predicted target point (metres) and, relative, that
distance over the centre's distance from the camera. A frame where the object is in view but no
point was predicted counts against ``coverage`` instead (and is not scored).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def frame_errors(points: Sequence[Sequence[Sequence[float]]], centres: dict[int, np.ndarray],
                 obj_ids: Sequence[int]) -> tuple[list[float], list[float], int]:
    """Errors of every (frame, referred object) in view.

    Args:
        points: per frame, the predicted ``[x, y, z]`` points in metres (may be empty).
        centres: ``{obj_id: (T, 3)}`` true centres in metres, NaN while out of view.
        obj_ids: the referred objects.

    Returns:
        ``(absolute errors m, relative errors, frames in view without a point)``.
    """
    absolute, relative, missing = [], [], 0
    for t, predicted in enumerate(points):
        pred = np.asarray(predicted, dtype=np.float64).reshape(-1, 3)
        for obj in obj_ids:
            truth = centres.get(int(obj))
            if truth is None or t >= len(truth) or not np.all(np.isfinite(truth[t])):
                continue
            if pred.shape[0] == 0:
                missing += 1
                continue
            err = float(np.min(np.linalg.norm(pred - truth[t], axis=1)))
            absolute.append(err)
            relative.append(err / max(float(np.linalg.norm(truth[t])), 1e-9))
    return absolute, relative, missing


def summary(absolute: Sequence[float], relative: Sequence[float], missing: int) -> dict[str, float]:
    """Mean and median of the errors, and the share of in-view frames that had a point."""
    n = len(absolute)
    total = n + missing
    if n == 0:
        return {"abs_m_mean": float("nan"), "abs_m_median": float("nan"), "rel_mean": float("nan"),
                "rel_median": float("nan"), "coverage": 0.0, "frames": float(total)}
    return {
        "abs_m_mean": float(np.mean(absolute)),
        "abs_m_median": float(np.median(absolute)),
        "rel_mean": float(np.mean(relative)),
        "rel_median": float(np.median(relative)),
        "coverage": n / total,
        "frames": float(total),
    }


def pooled(results: Sequence[dict[str, object]]) -> dict[str, float]:
    """One summary over every frame of every expression result that carries ``position_3d``."""
    absolute: list[float] = []
    relative: list[float] = []
    missing = 0
    for r in results:
        pos = r.get("position_3d")
        if isinstance(pos, dict):
            absolute += list(pos["abs_errors_m"])
            relative += list(pos["rel_errors"])
            missing += int(pos["missing"])
    return summary(absolute, relative, missing) if absolute or missing else {}
