"""Embedded (rule) motion reasoner: scores trajectories against the parsed motion/context phrases.

Each recognised descriptor ("to the left", "fastest", "stops", "toward the camera", "on the
right", "behind", ...) turns one trajectory feature into a per-track score in [0, 1]; a track's
score is the geometric mean of its descriptor scores, so a track must fit every descriptor.
Features are measured in ego-compensated coordinates (camera motion removed) unless the phrase
is relative to the camera, and normalised by the image width so thresholds do not depend on
resolution (speeds in image widths per second). With a depth image, "toward / away from the
camera" average the measured distance's log rate with the box-size rate (two measurements of one
rate for a rigid object), "nearest / farthest" use the distance itself and "behind / in front" the
depth occlusion order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from parse_vos_ros.config import Config
from parse_vos_ros.parsing.lexicon import DISPLACEMENT_VERBS, gerund
from parse_vos_ros.reasoning.sizes import log_size, sized_samples
from parse_vos_ros.types import ParsedCommand, ReasoningResult, SceneSummary, Trajectory

# Thresholds, in image widths per second unless stated.
MOVE_SPEED = 0.04  # slower counts as still
DIR_SPEED = 0.03  # net velocity along a direction that counts as "moving that way"
SCALE_RATE = 0.05  # log-size change per second that counts as approaching / receding
SOFT = 0.015  # logistic softness of the speed thresholds
MIN_DURATION_S = 0.1  # shorter visible histories carry no motion information
RESAMPLE_S = 0.2  # path speed is measured on points this far apart (suppresses jitter)
BASE_FLOOR = 0.6  # descriptor scores are scaled into [this, 1] by detection confidence, visibility and size


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


@dataclass
class Features:
    """Per-track motion features, one array element per trajectory (NaN when unknown).

    Attributes (N = number of tracks; W = image width):
        velocity: ``(N, 2)`` least-squares centre velocity, compensated, W/s.
        raw_velocity: ``(N, 2)`` the same in raw image coordinates (relative to the camera).
        speed: ``(N,)`` path speed W/s; early_speed, late_speed: the same over each half.
        scale_rate: ``(N,)`` d log(size) / dt, 1/s (> 0 approaching; size: the height of the
            track's detection boxes or mask boxes, the width where the border cuts the top or
            bottom: ``sizes``); with measured distances the mean of that and -d log(distance) / dt
            (the same for a rigid object: two measurements of one rate; a mask that grows by
            segmentation alone, or a fragment of an approaching object, shows only one of them),
            the latter alone when the size has no measure.
        distance: ``(N,)`` newest measured distance, metres (NaN without depth).
        x, y: ``(N,)`` newest visible centre in [0, 1] of width/height.
        area: ``(N,)`` newest visible area, fraction of the image.
        height: ``(N,)`` newest visible box height, fraction of the image height.
        first_seen: ``(N,)`` stamp of the first visible sample (s).
        known: ``(N,) bool`` enough visible history for motion features.
    """

    velocity: np.ndarray
    raw_velocity: np.ndarray
    speed: np.ndarray
    early_speed: np.ndarray
    late_speed: np.ndarray
    scale_rate: np.ndarray
    x: np.ndarray
    y: np.ndarray
    area: np.ndarray
    height: np.ndarray
    first_seen: np.ndarray
    known: np.ndarray
    distance: np.ndarray


def _fit_slope(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Least-squares slope of ``v`` ``(T,)`` or ``(T, D)`` against ``t`` ``(T,)``."""
    v2 = v.reshape(len(t), -1)
    tc = t - t.mean()
    slope = (tc[:, None] * (v2 - v2.mean(0))).sum(0) / max(float((tc**2).sum()), 1e-12)
    return slope if v.ndim > 1 else slope[0]


def _path_speed(t: np.ndarray, c: np.ndarray) -> float:
    """Path length per second over points resampled at least ``RESAMPLE_S`` apart."""
    keep = [0]
    for i in range(1, len(t)):
        if t[i] - t[keep[-1]] >= RESAMPLE_S:
            keep.append(i)
    if keep[-1] != len(t) - 1:
        keep.append(len(t) - 1)
    k = np.asarray(keep)
    dur = t[k[-1]] - t[k[0]]
    if dur <= 0:
        return 0.0
    return float(np.linalg.norm(np.diff(c[k], axis=0), axis=1).sum() / dur)


def features(trajectories: Sequence[Trajectory], image_size: tuple[int, int]) -> Features:
    """Motion features of each trajectory (see ``Features``)."""
    w, h = float(image_size[0]), float(image_size[1])
    n = len(trajectories)
    nan2 = np.full((n, 2), np.nan)
    f = Features(nan2.copy(), nan2.copy(), *(np.full(n, np.nan) for _ in range(9)), np.zeros(n, bool),
                 np.full(n, np.nan))
    for i, tr in enumerate(trajectories):
        vis = tr.visible & (tr.areas > 0)
        if not vis.any():
            continue
        t = tr.stamps[vis]
        comp = (tr.comp_boxes[vis, :2] + tr.comp_boxes[vis, 2:]) / 2 / w
        raw = (tr.boxes[vis, :2] + tr.boxes[vis, 2:]) / 2 / w
        f.x[i] = comp[-1, 0]
        f.y[i] = comp[-1, 1] * w / h
        f.area[i] = tr.areas[vis][-1] / (w * h)
        f.height[i] = (tr.boxes[vis][-1, 3] - tr.boxes[vis][-1, 1]) / h
        f.first_seen[i] = t[0]
        if t[-1] - t[0] < MIN_DURATION_S:
            continue
        f.known[i] = True
        f.velocity[i] = _fit_slope(t, comp)
        f.raw_velocity[i] = _fit_slope(t, raw)
        f.speed[i] = _path_speed(t, comp)
        half = t[0] + (t[-1] - t[0]) / 2
        early, late = t <= half, t >= half
        f.early_speed[i] = _path_speed(t[early], comp[early]) if early.sum() > 1 else 0.0
        f.late_speed[i] = _path_speed(t[late], comp[late]) if late.sum() > 1 else 0.0
        ts, size = log_size(*sized_samples(tr, vis), w, h)
        if len(ts) > 1 and ts[-1] - ts[0] >= MIN_DURATION_S:
            f.scale_rate[i] = _fit_slope(ts, size)
        if tr.distances is not None:
            _depth_features(f, i, tr.stamps, tr.distances)
    return f


def _depth_features(f: Features, i: int, stamps: np.ndarray, distances: np.ndarray) -> None:
    """Measured distance and (over ``MIN_DURATION_S`` or more) approach rate of track ``i``."""
    ok = np.isfinite(distances) & (distances > 0)
    if not ok.any():
        return
    t, d = stamps[ok], distances[ok]
    f.distance[i] = d[-1]
    if t[-1] - t[0] >= MIN_DURATION_S:
        rate = -_fit_slope(t, np.log(d))
        # Without a size measure (cut by the border) the distance alone tells the rate.
        f.scale_rate[i] = 0.5 * (f.scale_rate[i] + rate) if np.isfinite(f.scale_rate[i]) else rate


def _relative(values: np.ndarray, higher_better: bool) -> np.ndarray:
    """Rank-like score in [0.2, 1]: the extreme track gets 1 (a single track gets 1)."""
    v = np.where(np.isnan(values), np.nanmedian(values) if np.isfinite(values).any() else 0.0, values)
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-9:
        return np.ones_like(v)
    r = (v - lo) / (hi - lo)
    return 0.2 + 0.8 * (r if higher_better else 1.0 - r)


def _clearest(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """A soft preference in [0.6, 1] for the track showing a property most strongly.

    Absolute thresholds saturate: segmentation noise can make a static region look like it is
    shrinking at a rate above the threshold, but a real receding object shrinks far faster.
    """
    if known.sum() < 2:
        return np.ones_like(values)
    v = np.clip(values, 0.0, None)
    top = float(v[known].max())
    return 0.6 + 0.4 * (v / top) if top > 0 else np.ones_like(values)


def _unknown_to_half(score: np.ndarray, known: np.ndarray) -> np.ndarray:
    return np.where(known, score, 0.5)


# A scorer maps (features, occlusion ranks, camera-relative flag) to per-track scores in [0, 1].
Scorer = Callable[[Features, dict[str, np.ndarray], bool], np.ndarray]

DIRECTIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
SLOPE_WEIGHT = 0.5  # a landmark's slope ("down the hill") in the picture can at most halve a track's score


def _direction(name: str) -> Scorer:
    d = np.asarray(DIRECTIONS[name])

    def score(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
        v = f.raw_velocity if camera else f.velocity
        along = np.nan_to_num(v @ d)
        return _unknown_to_half(_sigmoid((along - DIR_SPEED) / SOFT) * _clearest(along, f.known), f.known)

    return score


def _soft(scorer: Scorer, weight: float) -> Scorer:
    """``scorer`` as a preference: its score mapped from [0, 1] to [1 - ``weight``, 1]."""

    def score(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
        return (1.0 - weight) + weight * scorer(f, occ, camera)

    return score


def _moving(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    return _unknown_to_half(_sigmoid((np.nan_to_num(f.speed) - MOVE_SPEED) / SOFT), f.known)


def _still(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    return _unknown_to_half(1.0 - _moving(f, occ, camera), f.known)


def _fast(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    return _unknown_to_half(_moving(f, occ, camera) * (0.6 + 0.4 * _relative(f.speed, True)), f.known)


def _slow(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    # "slowly" still implies motion: a weakly moving track beats a still one.
    weak = _sigmoid((np.nan_to_num(f.speed) - MOVE_SPEED / 3) / SOFT)
    return _unknown_to_half(weak * (0.6 + 0.4 * _relative(f.speed, False)), f.known)


def _fastest(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    return _unknown_to_half(_relative(f.speed, True) ** 3, f.known)


def _slowest(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    return _unknown_to_half(_relative(f.speed, False) ** 3, f.known)


def _starts(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    gain = np.nan_to_num(f.late_speed - f.early_speed)
    return _unknown_to_half(_sigmoid((gain - DIR_SPEED) / SOFT), f.known)


def _stops(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    drop = np.nan_to_num(f.early_speed - f.late_speed)
    return _unknown_to_half(_sigmoid((drop - DIR_SPEED) / SOFT), f.known)


def _approach(f: Features, sign: float) -> np.ndarray:
    """How clearly each track approaches (``sign`` 1) or recedes (-1); 0.5 where its size has
    no measure (``scale_rate`` NaN: too short, or cut by the border)."""
    known = f.known & np.isfinite(f.scale_rate)
    rate = sign * np.nan_to_num(f.scale_rate)
    return _unknown_to_half(_sigmoid((rate - SCALE_RATE) / (SCALE_RATE / 2)) * _clearest(rate, known), known)


def _toward(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    return _approach(f, 1.0)


def _away(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    return _approach(f, -1.0)


def _first(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    return _relative(f.first_seen, False) ** 2


def _last(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    return _relative(f.first_seen, True) ** 2


def _position(attr: str, higher_better: bool) -> Scorer:
    def score(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
        return _relative(getattr(f, attr), higher_better)

    return score


def _nth(n: int, attr: str, from_high: bool) -> Scorer:
    """The ``n``-th track (1-based) counted along ``attr`` ("x" or "y"), from its high end when
    ``from_high`` ("the second from the right"); 1 at that rank, less the further a track is from
    it, 0.5 where the position is unknown."""

    def score(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
        values = getattr(f, attr)
        known = np.isfinite(values)
        out = np.full(values.shape, 0.5)
        if known.any():
            order = np.argsort(-values[known] if from_high else values[known], kind="stable")
            rank = np.empty(order.size)
            rank[order] = np.arange(order.size)
            out[known] = 0.2 + 0.8 * np.exp(-np.abs(rank - (n - 1)))
        return out

    return score


def _center(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    return _relative(np.abs(f.x - 0.5), False)


def _near(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    # Measured distance when there is depth; else larger is nearer. An occluder in front scores more.
    nearness = _relative(f.distance, False) if np.isfinite(f.distance).any() else _relative(f.area, True)
    return np.clip(nearness * 0.8 + 0.2 * occ["front"], 0, 1)


def _far(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    farness = _relative(f.distance, True) if np.isfinite(f.distance).any() else _relative(f.area, False)
    return np.clip(farness * 0.8 + 0.2 * occ["back"], 0, 1)


def _behind(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    return np.where(occ["back"] > 0, 1.0, np.where(occ["front"] > 0, 0.1, 0.4))


def _in_front(f: Features, occ: dict[str, np.ndarray], camera: bool) -> np.ndarray:
    return np.where(occ["front"] > 0, 1.0, np.where(occ["back"] > 0, 0.1, 0.4))


_POSITIONAL = re.compile(
    r"\b(on|at|in|to)\s+the\s+(far\s+|very\s+)?(left|right|top|bottom)\s*(side|edge|corner|of)?\b(?!\s*\w*ward)"
    r"|\b(left|right|top|bottom)[- ]?most\b|\b(left|right)\s+(side|one)\b"
    r"|\b(upper|lower|top|bottom)\b"
)
_BARE_SIDE = re.compile(r"left|right")  # "the left one", "the right dog": a context word alone is a place
_MOTION_VERB = re.compile(
    r"\b(mov|go|walk|run|head|turn|driv|fly|swim|rid|travel|cross|com|jump|spin|twirl|danc|roll|glid|skat|surf"
    r"|jog|hop|gallop|trot|cycl|row|slid|wander|stroll|ski)\w*"
)

# A verb of displacement (the lexicon's, in -ing form: "drifting", "marching", "fleeing") or a
# few of its commonest other forms; gerunds that also name places ("at the crossing") are not.
_PLACE_GERUNDS = frozenset({"crossing", "landing"})
_MOVING = re.compile(
    r"\b("
    + "|".join(sorted({gerund(v) for v in DISPLACEMENT_VERBS} - _PLACE_GERUNDS, key=len, reverse=True))
    + r"|moves|move|walks|goes|spins|dances|rolls|glides|slides)\b"
)

# The camera, or whoever looks through it: the robot addressed as "you", the speaker beside it.
_VIEWER = r"(?:the\s+)?(?:camera|viewer|lens|robot|us|me|you)\b"
# (pattern, descriptor name, scorer); every phrase is matched against all of these.
RULES: list[tuple[re.Pattern[str], str, Scorer]] = [
    # A comparative compares with the others ("faster than the others", "the slower of the two").
    (re.compile(r"\b(fastest|quickest|most quickly|the fast one|(moves?|moving) the most|most active"
                r"|(?<!getting )faster|(?<!getting )quicker)\b"), "fastest", _fastest),
    (re.compile(r"\b(slowest|most slowly|(moves?|moving) the least|least active|(?<!getting )slower)\b"),
     "slowest", _slowest),
    (re.compile(r"\b(fast|getting faster|quick|quickly|rapid\w*|speed\w*|rush\w*|racing|sprint\w*)\b"), "fast",
     _fast),
    (re.compile(r"\b(slow|getting slower|slowly|gradually|crawl\w*)\b"), "slow", _slow),
    (re.compile(r"\b(start\w*|begin\w*|began|set(s)? off|takes? off)\b"), "starts moving", _starts),
    (re.compile(r"\b(stop\w*|halt\w*|comes? to a (stop|halt)|stands? still after|pauses?)\b"), "stops", _stops),
    (
        re.compile(r"\b(still|stationary|static|motionless|not moving|parked|idle|unmoving|standing still)\b"),
        "still",
        _still,
    ),
    (re.compile(r"\b(toward\w*|approach\w*|closer|nearer|coming (at|to)|getting bigger)\b"), "toward", _toward),
    (re.compile(r"\b(away|receding|recede\w*|further|farther away|getting smaller)\b"), "away", _away),
    (re.compile(r"\b(first)\b"), "first", _first),
    (re.compile(r"\b(last|latest)\b"), "last", _last),
    (re.compile(r"\b(behind|occluded|hidden|in the back(ground)?)\b"), "behind", _behind),
    # "In front of you / the camera" is the viewer's nearest; "in front" alone, of the others.
    (re.compile(rf"\b(in front|foreground|front)\b(?!\s+of\s+{_VIEWER})"), "in front", _in_front),
    (re.compile(rf"\b(nearest|closest|near(est)? the camera|in front of\s+{_VIEWER})"), "nearest", _near),
    (re.compile(r"\b(farthest|furthest|far away|distant)\b"), "farthest", _far),
    (re.compile(r"\b(middle|center|centre|central)\b"), "center", _center),
    # Which of several by size ("the biggest", "the smaller of the two"): the newest visible size.
    (re.compile(r"\b(biggest|largest|(?<!getting )bigger|(?<!getting )larger)\b"), "biggest",
     _position("area", True)),
    (re.compile(r"\b(smallest|(?<!getting )smaller|tiniest|tinier)\b"), "smallest", _position("area", False)),
    (re.compile(r"\b(tallest|taller)\b"), "tallest", _position("height", True)),
    (re.compile(r"\b(shortest|shorter)\b"), "shortest", _position("height", False)),
    (_MOVING, "moving", _moving),
]
# "not moving", "doesn't move", "never walks", "no longer running": a negated motion verb means
# still, and must not also fire the "moving" rule below.
_NEGATED_MOTION = re.compile(
    r"(?:\bnot|\bnever|\bno longer|\bwithout|\b\w+n't)\s+(?:\w+\s+)?"
    r"(?:moving|moves|move|walking|walks|walk|going|goes|running|runs|run|driving|drives|flying|flies)\b"
)
# "never stops", "without stopping": a negated stop means it keeps moving.
_NEGATED_STOP = re.compile(r"(?:\bnot|\bnever|\bwithout|\b\w+n't)\s+(?:\w+\s+)?(?:stop|halt|paus)\w*")
_DIRECTION_WORDS = {
    "left": re.compile(r"\b(left|leftward\w*|westward)\b"),
    "right": re.compile(r"\b(right|rightward\w*|eastward)\b"),
    "up": re.compile(r"\b(up|upward\w*|rising|rises|climb\w*|ascend\w*)\b"),
    "down": re.compile(r"\b(down|downward\w*|falling|falls|descend\w*|dropping|drops)\b"),
}
# "down the hill", "up the stairs", "down the road": a path along a landmark, whose slope, not the
# image, has the direction (down a road is along it; down a hill may be across the picture).
_LANDMARK_PATH = re.compile(r"\b(up|down)\s+(the|a|an|this|that|its|his|her|their)\s+\w+")
# "from the left" names where a motion starts, so it heads the other way; "from left to right"
# names where it ends too. Rewritten to the direction word before the direction words are read.
_ORIGIN = re.compile(
    r"(?:\baway\s+)?\bfrom\s+(?:the\s+)?(left|right|top|bottom|above|below)\b(?:\s+(?:side|edge|end))?"
    r"(?:\s+(?:to|towards?)\s+(?:the\s+)?(left|right|top|bottom)\b(?:\s+(?:side|edge|end))?)?"
)
_TO_EDGE = re.compile(r"\b(?:toward\w*|to)\s+(?:the\s+)?(top|bottom)\b")  # "toward the top of the screen"
_FROM_ORIGIN = {"left": "rightward", "right": "leftward", "top": "downward", "above": "downward",
                "bottom": "upward", "below": "upward"}
_TO_END = {"left": "leftward", "right": "rightward", "top": "upward", "bottom": "downward"}
# "toward the door", "away from the group", "approaching the car": motion relative to another
# object, which this reasoner does not follow; only toward / away from the camera (or the viewer)
# is depth. Such a phrase says the object moves, and no more.
_RELATIVE_GOAL = re.compile(rf"\b(?:toward\w*|away\s+from|approach\w*)\s+(?!{_VIEWER})\w+")
_FROM_OTHER = re.compile(rf"^from\s+(?!{_VIEWER})\w+")  # the "from the group" after "walking away"
# "the second dog from the left": an ordinal and a side, both context, count along the picture.
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
_FROM_SIDE = re.compile(r"from\s+(?:the\s+)?(left|right|top|bottom)(?:\s+(?:side|edge|end))?")
_CAMERA_RELATIVE = re.compile(r"\b(relative to|with|on|across|in)\s+(the\s+)?(camera|screen|frame|view|image)\b")
_IMPLIES_MOTION = {"fast", "slow", "fastest", "slowest", "starts moving", "stops", "toward", "away"}
# Directions in the picture imply motion too; a landmark's slope ("moving down (slope)") does not.
_IMAGE_DIRECTIONS = frozenset(f"moving {name}" for name in DIRECTIONS)
_POSITION_WORDS = {
    "left": ("x", False),
    "right": ("x", True),
    "top": ("y", False),
    "upper": ("y", False),
    "bottom": ("y", True),
    "lower": ("y", True),
}


def _counted_from_a_side(tagged: list[tuple[str, bool]]) -> list[tuple[str, Scorer]]:
    """"The second dog from the left": the context's side phrase, with its ordinal when there is
    one (first when not: "the dog from the left"), as one count along the picture. Removes the
    phrases it reads from ``tagged``."""
    side = next(((p, match) for p, m in tagged if not m and (match := _FROM_SIDE.fullmatch(p))), None)
    if side is None:
        return []
    ordinal = next((p for p, m in tagged if not m and p in _ORDINALS), None)
    tagged.remove((side[0], False))
    if ordinal is not None:
        tagged.remove((ordinal, False))
    word = side[1].group(1)
    attr, from_high = _POSITION_WORDS[word]
    if ordinal is None:
        return [(f"on the {word}", _position(attr, from_high))]
    return [(f"{ordinal} from the {word}", _nth(_ORDINALS[ordinal], attr, from_high))]


def descriptors(command: ParsedCommand) -> tuple[list[tuple[str, Scorer]], list[str], bool]:
    """The scorers the command's motion and context phrases ask for.

    "to the left" is a direction in a motion phrase and a position in a context phrase; "on the
    left", "leftmost" and "left side" are positions unless the phrase also has a motion verb.

    Returns:
        ``(named scorers, phrases no rule understood, camera-relative flag)``.
    """
    found: list[tuple[str, Scorer]] = []
    unused: list[str] = []
    tagged = [(p.lower(), True) for p in command.motion] + [(p.lower(), False) for p in command.context]
    # "on the screen" / "relative to the camera" ask for image motion; "toward the camera" is depth.
    camera = any(_CAMERA_RELATIVE.search(p) for p, _ in tagged)
    found += _counted_from_a_side(tagged)  # consumes the phrases it reads
    for k, (raw_phrase, is_motion) in enumerate(tagged):
        phrase = _NEGATED_MOTION.sub("still", _NEGATED_STOP.sub("moving", raw_phrase))
        if is_motion:  # "coming from the left" heads right; "from right to left" heads left
            phrase = _ORIGIN.sub(lambda m: _TO_END[m.group(2)] if m.group(2) else _FROM_ORIGIN[m.group(1)], phrase)
            phrase = _TO_EDGE.sub(lambda m: _TO_END[m.group(1)], phrase)
            phrase = _RELATIVE_GOAL.sub("moving", phrase)
            following = tagged[k + 1][0] if k + 1 < len(tagged) else ""
            if _FROM_OTHER.match(following):  # "walking away" "from the group"
                phrase = re.sub(r"\baway$", "", phrase)
        before = len(found)
        positional = _POSITIONAL.search(phrase) or (None if is_motion else _BARE_SIDE.fullmatch(phrase))
        if positional and is_motion and positional.group(0).startswith("to "):
            positional = None
        if positional and not _MOTION_VERB.search(phrase.replace(positional.group(0), "")):
            word = next(w for w in _POSITION_WORDS if re.search(rf"\b{w}", positional.group(0)))
            attr, higher = _POSITION_WORDS[word]
            found.append((f"on the {word}", _position(attr, higher)))
        else:
            slopes = {m.group(1) for m in _LANDMARK_PATH.finditer(phrase)}
            for name, pattern in _DIRECTION_WORDS.items():
                if name in slopes:
                    # A landmark's slope is seen from wherever the camera is: the picture may show
                    # it going down, or across, or toward the camera. A preference, not a test.
                    found.append((f"moving {name} (slope)", _soft(_direction(name), SLOPE_WEIGHT)))
                elif pattern.search(phrase):
                    found.append((f"moving {name}", _direction(name)))
        for pattern, name, scorer in RULES:
            if pattern.search(phrase):
                found.append((name, scorer))
        if len(found) == before:
            unused.append(raw_phrase)
    names = {name for name, _ in found}
    if names & (_IMPLIES_MOTION | _IMAGE_DIRECTIONS):
        # A direction, speed or start/stop already implies motion; "moving" would add nothing. A
        # direction along a landmark does not replace the motion verb: it may not be the image's.
        found = [(n, s) for n, s in found if n != "moving"]
    # The same descriptor twice would count double.
    unique = list({name: (name, s) for name, s in found}.values())
    return unique, unused, camera


class RuleMotionReasoner:
    """Selects tracks whose trajectories fit the command's motion and context descriptors.

    Args:
        min_score: tracks scoring below this are not selected for ``cardinality == "all"``.
        margin: a selection whose last chosen score is within this of the next is ambiguous.
        reject_below: a track scoring below this is never selected: when nothing fits the
            command, the answer is "none yet" (the engine keeps searching), not the least bad.
    """

    def __init__(self, min_score: float = 0.5, margin: float = 0.05, reject_below: float = 0.2) -> None:
        self.min_score = min_score
        self.margin = margin
        self.reject_below = reject_below

    @classmethod
    def from_config(cls, config: Config) -> RuleMotionReasoner:
        return cls()

    def score(self, command: ParsedCommand, scene: SceneSummary) -> tuple[dict[int, float], list[str], str]:
        """Per-track scores, per-track explanations and a summary of the descriptors used."""
        trs = list(scene.trajectories)
        ids = [t.track_id for t in trs]
        feats = features(trs, scene.image_size)
        occ = {"front": np.zeros(len(trs)), "back": np.zeros(len(trs))}
        index = {tid: i for i, tid in enumerate(ids)}
        for fact in scene.occlusions:
            if fact.front_id in index and fact.back_id in index:
                occ["front"][index[fact.front_id]] = max(occ["front"][index[fact.front_id]], fact.overlap)
                occ["back"][index[fact.back_id]] = max(occ["back"][index[fact.back_id]], fact.overlap)
        rules, unused, camera = descriptors(command)
        # Without descriptors, prefer confident, currently visible, larger and moving tracks (a
        # referred object in a video is usually a prominent, moving one).
        vis_last = np.array([float(t.visible[-1]) if len(t) else 0.0 for t in trs])
        conf = np.array([t.score for t in trs])
        # A referred object stays in view; a track seen briefly is more often a fragment or artefact.
        seen_s = np.array([float(np.ptp(t.stamps[t.visible])) if t.visible.any() else 0.0 for t in trs])
        prominence = (
            0.1 * _relative(feats.area, True) + 0.075 * _relative(feats.speed, True) + 0.075 * _relative(seen_s, True)
        )
        base = 0.35 + 0.3 * conf + 0.1 * vis_last + prominence  # <= 1
        if rules:
            per = np.stack([np.clip(s(feats, occ, camera), 1e-6, 1.0) for _, s in rules])
            total = np.exp(np.log(per).mean(0)) * (BASE_FLOOR + (1 - BASE_FLOOR) * base)
        else:
            # Nothing to reason about but the phrase: the detector's confidence for it (colour,
            # class) is the best evidence there is, so it outweighs size and motion prominence.
            per = np.zeros((0, len(trs)))
            total = (base + 0.5 * conf) / 1.6
        if rules or scene.whole_video:
            # A track seen much shorter than the longest-seen one (a fragment, a flicker) keeps part
            # of its score: its motion is weak evidence, and over a whole video so is a confident
            # detection. Over a whole video the referred object is seen most of the time; in a
            # live window it may be new (and then only its motion is discounted).
            floor, full_at = (0.4, 0.75) if scene.whole_video else (0.7, 0.5)
            seen = np.clip(seen_s / max(float(seen_s.max()), 1e-6) / full_at, 0.0, 1.0)
            total = total * (floor + (1.0 - floor) * seen)
        notes = []
        for i, tid in enumerate(ids):
            motion = (
                f"v=({feats.velocity[i, 0]:+.2f},{feats.velocity[i, 1]:+.2f}) W/s speed={feats.speed[i]:.2f}"
                if feats.known[i]
                else "motion unknown (short history)"
            )
            if np.isfinite(feats.distance[i]):
                motion += f" dist={feats.distance[i]:.2f}m"
            parts = ", ".join(f"{name}={per[k, i]:.2f}" for k, (name, _) in enumerate(rules))
            notes.append(f"#{tid} {motion} x={feats.x[i]:.2f}: {parts or 'no descriptors'} -> {total[i]:.2f}")
        used = ", ".join(name for name, _ in rules) or "none"
        summary = f"descriptors: {used}" + (" (camera-relative)" if camera else "")
        if unused:
            summary += f"; not understood: {'; '.join(unused)}"
        return {tid: float(total[i]) for i, tid in enumerate(ids)}, notes, summary

    def select(self, command: ParsedCommand, scene: SceneSummary) -> ReasoningResult:
        """Best ``command.cardinality`` tracks (all above ``min_score`` for "all"), with a rationale."""
        if not scene.trajectories:
            return ReasoningResult((), "no candidate tracks yet", "rule")
        scores, notes, summary = self.score(command, scene)
        ranked = sorted(scores, key=lambda tid: -scores[tid])
        if command.cardinality == "all":
            chosen = [tid for tid in ranked if scores[tid] >= self.min_score]
            rest = [scores[tid] for tid in ranked if scores[tid] < self.min_score]
            ambiguous = bool(rest) and bool(chosen) and scores[chosen[-1]] - rest[0] < self.margin
        else:
            k = int(command.cardinality)
            chosen = [tid for tid in ranked[:k] if scores[tid] >= self.reject_below]
            ambiguous = len(ranked) > k and scores[ranked[k - 1]] - scores[ranked[k]] < self.margin
        rationale = f"{summary}. " + "; ".join(notes) + f". selected {chosen or 'none'}"
        if not chosen:
            rationale += f" (no track scores {self.reject_below} or more)"
        if ambiguous:
            rationale += " (ambiguous: close scores)"
        return ReasoningResult(tuple(chosen), rationale, "rule", scores, ambiguous)
