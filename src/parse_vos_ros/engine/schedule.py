"""When to run a keyframe (detection) and when to reason."""

from __future__ import annotations

import math

SEARCH_INTERVAL_DIVISOR = 3  # keyframes come this many times more often while nothing is selected
UNCERTAIN_REASON_S = 0.1  # reasoning period (s) while the selection is empty or ambiguous
NEVER = -(10**9)  # the frame index of "no keyframe yet"


class KeyframeSchedule:
    """Keyframes every ``interval`` frames, more often while searching, at once on a new command."""

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.reset()

    def reset(self) -> None:
        """Start counting afresh: the next frame is due."""
        self.last = NEVER

    def period(self, searching: bool) -> int:
        """Frames between keyframes; ``searching``: a command with nothing selected, and no
        reasoning still busy on an earlier scene (more candidates would only wait)."""
        return max(1, self.interval // SEARCH_INTERVAL_DIVISOR) if searching else self.interval

    def due(self, index: int, new_command: bool, searching: bool) -> bool:
        """Frame ``index`` is a scheduled keyframe."""
        return new_command or index - self.last >= self.period(searching)

    def done(self, index: int) -> None:
        """A scheduled keyframe got its detections (a failed one is retried on the next frame)."""
        self.last = index


class ReasonSchedule:
    """Reasoning every ``interval_s``, every ``UNCERTAIN_REASON_S`` while the choice is unsettled,
    and after any birth."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.reset()

    def reset(self) -> None:
        """Nothing reasoned yet, no births waiting."""
        self.last = -math.inf
        self.births = 0  # tracks started since the last reasoning

    def due(self, stamp: float, uncertain: bool, selected_died: bool) -> bool:
        """Reasoning is due at ``stamp``: ``uncertain`` (re-check often: motion evidence accumulates
        every frame), ``selected_died`` (nothing to output until the next reasoning: at the uncertain
        rate, not every frame, while a slow reasoner is still answering)."""
        interval = min(self.interval_s, UNCERTAIN_REASON_S) if uncertain else self.interval_s
        return stamp - self.last >= (UNCERTAIN_REASON_S if selected_died else interval) or self.births > 0

    def done(self, stamp: float) -> None:
        """A reasoning job was submitted at ``stamp``."""
        self.last = stamp
        self.births = 0
