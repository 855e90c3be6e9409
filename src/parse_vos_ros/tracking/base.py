"""The interface every mask propagation (video segmenter) backend implements."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

import numpy as np

from parse_vos_ros.types import FrameContext


class Segmenter(Protocol):
    """Propagates one mask per object id from frame to frame (SAM2-style, causal).

    Per frame the engine calls ``propagate`` once; on keyframes it may then call ``add_objects``
    for new tracks or to re-anchor matched ones with a fresh detection box. Memory held by a
    backend is bounded by the engine's sliding window whatever the stream length.

    Optional: ``set_masks(frame, {object_id: (H, W) bool}) -> {object_id: (H, W) bool}``
    re-anchors live objects to masks from a better segmenter on keyframes
    (``tracking.keyframe_masks``; ``EmbeddedSegmenter`` has it). Without it the engine runs
    without keyframe masks.

    Optional, together: ``cut_view(frame)``, ``cut(view, {key: box})`` (safe in another thread),
    ``start_objects(frame, {object_id: cut})``, ``awaiting_cuts`` and ``cuts_landed()`` let the
    keyframe worker cut new objects on the frame their detections were made on and the frame loop
    start them later (``EmbeddedSegmenter``, ``tracking/cuts.py``). Without them new objects are
    cut by ``add_objects`` on the frame loop.
    """

    def propagate(self, frame: FrameContext) -> dict[int, np.ndarray]:
        """Masks of every live object on ``frame``: ``{object_id: (H, W) bool}``."""
        ...

    def add_objects(self, frame: FrameContext, boxes: Mapping[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Start (or re-anchor) objects from ``(4,)`` xyxy pixel boxes on ``frame``.

        Returns the masks of those objects on ``frame``: ``{object_id: (H, W) bool}``.
        """
        ...

    def remove_objects(self, object_ids: Iterable[int]) -> None:
        """Forget these objects (dead tracks); unknown ids are ignored."""
        ...

    def reset(self) -> None:
        """Forget everything (new stream, resolution change)."""
        ...
