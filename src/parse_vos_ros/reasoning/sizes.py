"""Object size over time when the image border may cut the object (both reasoners' "approaching /
receding")."""

from __future__ import annotations

import numpy as np

BORDER_FRAC = 0.01  # a box side this close to the image edge (fraction of the image size) is cut by it


def log_size(stamps: np.ndarray, boxes: np.ndarray, areas: np.ndarray, w: float, h: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """The samples whose size can be compared, and the log of that size (``(K,)`` stamps, s, and
    ``(K,)`` log px), of one object's visible samples (``(T,)`` stamps, ``(T, 4)`` xyxy ``boxes``
    and ``(T,)`` mask ``areas`` in pixels of a ``w`` x ``h`` image).

    The image border cuts an object that leaves the view or fills it, so its mask shrinks while
    the object may be coming closer: ``0.5 log(area)`` holds only while no box touches the border
    (within ``BORDER_FRAC``). When only the top or bottom is ever touched the width still measures
    the object, when only a side is the height does; when both are, the samples clear of every
    edge alone (possibly none).
    """
    mx, my = BORDER_FRAC * w, BORDER_FRAC * h
    sides = (boxes[:, 0] <= mx) | (boxes[:, 2] >= w - mx)
    ends = (boxes[:, 1] <= my) | (boxes[:, 3] >= h - my)
    if sides.any() and not ends.any():
        return stamps, np.log(np.maximum(boxes[:, 3] - boxes[:, 1], 1.0))
    if ends.any() and not sides.any():
        return stamps, np.log(np.maximum(boxes[:, 2] - boxes[:, 0], 1.0))
    clear = ~(sides | ends)
    return stamps[clear], 0.5 * np.log(np.maximum(areas[clear], 1.0))
