"""The interfaces of the coarse motion reasoner and the fine pose verifier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from parse_vos_ros.types import ParsedCommand, ReasoningResult, SceneSummary


class MotionReasoner(Protocol):
    """Selects the tracks whose trajectories match the command (method step 4)."""

    def select(self, command: ParsedCommand, scene: SceneSummary) -> ReasoningResult:
        """Ids of the tracks in ``scene.trajectories`` consistent with ``command``.

        Must only return ids present in ``scene.trajectories``; may return an empty tuple.
        """
        ...


class PoseVerifier(Protocol):
    """Scores candidates against the static pose / appearance text (method step 5)."""

    def score(self, pose_text: str, crops: Mapping[int, Sequence[np.ndarray]], subject: str = "") -> dict[int, float]:
        """Similarity in [0, 1] per track id.

        Args:
            pose_text: e.g. "sitting with raised arm".
            crops: per track id, k ``(h, w, 3) uint8`` RGB crops from different keyframes.
            subject: the noun phrase the pose is of ("person", "dog", "green triangle"); "" unknown.
        """
        ...
