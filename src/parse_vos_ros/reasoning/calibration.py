"""What the published target score means: the raw selection score mapped to a measured probability.

The reasoners' scores (the mean over the selected tracks, ``trace["score_raw"]``) rank candidates
but are not probabilities. ``calibrated_score`` maps them through a monotone table measured by
``scripts/calibrate_score.py``: on the frames where the engine published a mask, the share whose
mask overlapped the referred objects with IoU >= 0.5 (docs/reliability.md gives the run, its
numbers and its limits: synthetic scenes, default profile).
"""

from __future__ import annotations

import numpy as np

# Raw selection score -> share of right masks; linear in between, clipped at the ends. Measured by
# `scripts/calibrate_score.py --seeds 11 12 13 --scenes 12 --frames 40 --davis <DAVIS-2016>`:
# 3402 frames with a mask (2828 synthetic, 574 DAVIS), the median raw score of each of 8 equal
# bins -> its add-one smoothed, pooled-monotone share of right masks; (0, 0) anchors the bottom.
RAW_KNOTS: tuple[float, ...] = (0.0, 0.475, 0.554, 0.617, 0.716, 0.839, 0.873, 0.895, 0.921, 1.0)
CALIBRATED: tuple[float, ...] = (0.0, 0.432, 0.71, 0.858, 0.858, 0.963, 0.977, 0.993, 0.998, 0.998)


def calibrated_score(raw: float) -> float:
    """The probability, as measured, that a mask published with raw selection score ``raw`` is right."""
    return float(np.interp(float(raw), RAW_KNOTS, CALIBRATED))
