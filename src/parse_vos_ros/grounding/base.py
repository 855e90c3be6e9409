"""The interface every grounding (detector) backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from parse_vos_ros.types import Detection, FrameContext


class Detector(Protocol):
    """Finds candidate objects for noun phrases on a keyframe."""

    def detect(self, frame: FrameContext, phrases: Sequence[str]) -> list[Detection]:
        """Detections for ``phrases`` on ``frame``.

        Args:
            frame: the keyframe (``frame.image`` is ``(H, W, 3) uint8`` RGB).
            phrases: candidate noun phrases, e.g. ``["dog", "person"]``; never empty.

        Returns:
            Detections with ``box`` in pixel xyxy of ``frame.image`` and ``phrase`` set to
            the element of ``phrases`` they were found for, best first.
        """
        ...
