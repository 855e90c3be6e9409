"""Parts and wholes: referring expressions name whole objects, detectors also propose their parts.

The embedded detector proposes a car's wheel, window and body, a cow's brown patches and the cow,
and a part can fit the command a little better than its whole (a spinning wheel "moves right"
faster than the car; a harness crop is redder than the dog's). Whatever reasoner and pose verifier
chose, a chosen track that is a part of a candidate fitting the command nearly as well is replaced
by that whole. Two tracks a class detector boxed as the same class are two objects, not a part
and its whole: a child half hidden behind another lies inside her box.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from parse_vos_ros.types import SceneSummary, named_class

# A chosen track whose box lies this much inside a larger one's (intersection over its own box) ...
PART_OVERLAP = 0.9
PART_AREA = 1.5  # ... at least this many times larger (box area) ...
PART_SCORE = 0.85  # ... scoring at least this share of its score is a part of that whole object.


def wholes_for_parts(
    chosen: Sequence[int], scores: Mapping[int, float], scene: SceneSummary
) -> tuple[tuple[int, ...], list[tuple[int, int]]]:
    """Replace each chosen track that is a part of a larger candidate by that whole object.

    Part-of is read from the scene's occlusion facts (box overlap over the smaller box) and the
    trajectories' newest boxes (areas in pixels). A whole that fits the command much worse (a still
    background region behind a moving object: ``scores`` below ``PART_SCORE`` of the part's) is
    no whole of it. Tracks without a score are left as they are.

    Returns:
        The new choice (order kept, duplicates dropped) and the (part, whole) replacements made.
    """
    last = {t.track_id: t.boxes[-1] for t in scene.trajectories if len(t)}
    kind = {t.track_id: named_class(t.source) for t in scene.trajectories}
    area = {tid: float((b[2] - b[0]) * (b[3] - b[1])) for tid, b in last.items()}
    out: list[int] = []
    wholes: list[tuple[int, int]] = []
    for tid in chosen:
        container = [
            f.front_id
            for f in scene.occlusions
            if f.back_id == tid
            and tid in scores
            and f.overlap >= PART_OVERLAP
            and area.get(f.front_id, 0.0) >= PART_AREA * area.get(tid, float("inf"))
            and scores.get(f.front_id, 0.0) >= PART_SCORE * scores[tid]
            and not (kind.get(tid) and kind.get(tid) == kind.get(f.front_id))
        ]
        whole = max(container, key=lambda t: scores[t], default=tid)
        if whole != tid:
            wholes.append((tid, whole))
        if whole not in out:
            out.append(whole)
    return tuple(out), wholes
