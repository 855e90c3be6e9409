"""The selection: which tracks the command refers to, as an immutable value, and how a reasoning
outcome replaces it (hysteresis against flicker between close scores)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from parse_vos_ros.engine.commands import Command
from parse_vos_ros.engine.reasoning import ReasoningOutcome
from parse_vos_ros.reasoning.calibration import calibrated_score
from parse_vos_ros.tracking.store import TrackInfo

SWITCH_AFTER_S = 0.5  # a new choice kept out by switch_margin wins once preferred for this long


@dataclass(frozen=True)
class Selection:
    """The tracks chosen for the command, with the trace of the reasoning that chose them."""

    track_ids: tuple[int, ...] = ()
    score: float = 0.0  # calibrated confidence in [0, 1]
    ambiguous: bool = False
    trace: dict[str, object] = field(default_factory=dict)
    challenger: tuple[int, ...] = ()  # the reasoner's choice that the current one is kept over
    challenger_since: float = math.inf  # stamp since which the reasoner has preferred it
    not_found: str = ""  # why nothing in view grounds the command (reasoning/grounded.py), "" otherwise

    @property
    def searching(self) -> bool:
        """Nothing is told apart yet: no choice, or an ambiguous one."""
        return not self.track_ids or self.ambiguous

    @property
    def uncertain(self) -> bool:
        """The choice is not settled: searching, or the reasoner prefers a challenger."""
        return self.searching or bool(self.challenger)


def choose(old: Selection, outcome: ReasoningOutcome, info: Mapping[int, TrackInfo], command: Command,
           switch_margin: float) -> Selection:
    """The selection after ``outcome``: its choice among the live tracks ``info``, unless the old
    visible choice scores within ``switch_margin`` of it and the reasoner has preferred the new one
    for less than ``SWITCH_AFTER_S``."""
    result, stamp = outcome.result, outcome.stamp
    new_ids = tuple(t for t in result.track_ids if t in info)
    old_ids = tuple(t for t in old.track_ids if t in info)
    scores = result.scores
    same = bool(old.challenger) and set(old.challenger) == set(new_ids)
    challenger, since = (old.challenger, old.challenger_since) if same else (new_ids, stamp)
    keep_old = bool(
        old_ids
        # A selection out of view (lost) gives way to a visible choice that scores higher.
        and any(info[t].area > 0 for t in old_ids)
        and set(old_ids) != set(new_ids)
        and all(t in scores for t in old_ids)
        and sum(scores.get(t, 0.0) for t in new_ids) - sum(scores[t] for t in old_ids) < switch_margin
        and len(old_ids) == len(new_ids)
        # Hysteresis against flicker between close scores, not a lock: a choice preferred
        # on every reasoning for SWITCH_AFTER_S wins even by a small margin.
        and stamp - since < SWITCH_AFTER_S
    )
    ids = old_ids if keep_old else new_ids
    raw_score = float(np.mean([scores.get(t, 0.0) for t in ids])) if ids else 0.0
    parsed = command.parsed
    trace: dict[str, object] = {
        "command": {"text": parsed.text, "source": parsed.source, **parsed.to_dict()},
        "command_id": command.command_id,
        "command_stamp": command.stamp,
        "rationale": result.rationale + (f"; kept {list(old_ids)} (new choice not clearly better)" if keep_old else ""),
        "scores": {str(t): round(s, 3) for t, s in scores.items()},
        "score_raw": raw_score,
        "selected": list(ids),
        "source": result.source,
        "ambiguous": result.ambiguous,
        "reasoned_at": stamp,
        **outcome.extra,
    }
    kept = (challenger, since) if keep_old else ((), math.inf)
    return Selection(tuple(ids), calibrated_score(raw_score), result.ambiguous, trace, *kept,
                     not_found=str(outcome.extra.get("not_found", "")))
