"""Rule motion reasoner on hand-built trajectory sets (640x480 image, 3 s at 10 samples/s)."""

from __future__ import annotations

import numpy as np
import pytest

from parse_vos_ros.reasoning.parts import wholes_for_parts
from parse_vos_ros.reasoning.rule_reasoner import RuleMotionReasoner, descriptors, features
from parse_vos_ros.types import OcclusionFact, ParsedCommand, SceneSummary, Trajectory

W, H = 640, 480


def traj(
    tid: int,
    start: tuple[float, float],
    velocity: tuple[float, float] = (0.0, 0.0),
    *,
    n: int = 30,
    growth: float = 0.0,
    pan: float = 0.0,
    t0: float = 0.0,
    stop_at: float | None = None,
    start_at: float | None = None,
    side: float = 40.0,
) -> Trajectory:
    """A box moving at ``velocity`` px/s (world), ``growth`` = d log(side)/dt, camera panning ``pan`` px/s."""
    t = t0 + np.arange(n) / 10.0
    v = np.asarray(velocity, float)
    moving_t = t - t0
    if stop_at is not None:
        moving_t = np.minimum(moving_t, stop_at)
    if start_at is not None:
        moving_t = np.maximum(moving_t - start_at, 0.0)
    c = np.asarray(start, float) + moving_t[:, None] * v
    s = side * np.exp(growth * (t - t0))
    comp = np.concatenate([c - s[:, None] / 2, c + s[:, None] / 2], axis=1)
    # Raw image boxes: the camera pan shifts the whole scene, most for the oldest samples.
    raw = comp.copy()
    shift = -pan * (t[-1] - t)
    raw[:, [0, 2]] -= shift[:, None]
    return Trajectory(tid, "ball", t, raw, comp, s**2, np.ones(n, bool), 0.9)


def scene(*trs: Trajectory, occlusions: tuple[OcclusionFact, ...] = ()) -> SceneSummary:
    return SceneSummary(list(trs), "camera static", list(occlusions), (W, H), 10.0)


def cmd(motion: tuple[str, ...] = (), context: tuple[str, ...] = (), cardinality: int | str = 1) -> ParsedCommand:
    text = " ".join(("the ball", *motion, *context))
    return ParsedCommand(text, ("ball",), context=context, motion=motion, cardinality=cardinality)


def select(command: ParsedCommand, s: SceneSummary) -> tuple[int, ...]:
    return RuleMotionReasoner().select(command, s).track_ids


def test_look_alikes_differing_in_direction() -> None:
    s = scene(traj(1, (300, 200), (60, 0)), traj(2, (300, 300), (-60, 0)))
    assert select(cmd(("moving", "to the right")), s) == (1,)
    assert select(cmd(("moving", "to the left")), s) == (2,)
    assert select(cmd(("moving leftward",)), s) == (2,)


def test_up_and_down() -> None:
    s = scene(traj(1, (200, 300), (0, -50)), traj(2, (400, 100), (0, 50)))
    assert select(cmd(("flying up",)), s) == (1,)
    assert select(cmd(("falling",)), s) == (2,)


def test_panning_camera_does_not_fool_direction() -> None:
    # The camera pans right at 150 px/s, so in the image both balls drift left; in the world
    # (compensated) ball 1 moves right at 60 px/s.
    s = scene(traj(1, (300, 200), (60, 0), pan=150), traj(2, (300, 300), (-60, 0), pan=150))
    assert all(np.diff(s.trajectories[0].boxes[:, 0]).mean() < 0 for _ in [0])  # raw: drifting left
    assert select(cmd(("moving to the right",)), s) == (1,)
    # Relative to the camera, both move left; the one moving left in the world moves left fastest.
    assert select(cmd(("moving to the left on the screen",)), s) == (2,)


def test_speed_ranking_and_still() -> None:
    s = scene(traj(1, (100, 100), (120, 0)), traj(2, (100, 300), (40, 0)), traj(3, (500, 200)))
    assert select(cmd(("fastest",)), s) == (1,)
    assert select(cmd(("moving slowly",)), s) == (2,)
    assert select(cmd(("standing still",)), s) == (3,)
    assert select(cmd(("moving fast",)), s) == (1,)
    assert select(cmd(("slowest",)), s) == (3,)


@pytest.mark.parametrize("phrase", ["not moving", "does not move", "that never moves", "isn't walking"])
def test_negated_motion_selects_the_still_track(phrase: str) -> None:
    s = scene(traj(1, (100, 100), (120, 0)), traj(2, (500, 200)))
    assert select(cmd((phrase,)), s) == (2,)


def test_start_and_stop() -> None:
    s = scene(
        traj(1, (100, 100), (100, 0), stop_at=1.2),
        traj(2, (100, 300), (100, 0), start_at=1.5),
        traj(3, (100, 200), (100, 0)),
    )
    assert select(cmd(("stopping",)), s) == (1,)
    assert select(cmd(("starts moving",)), s) == (2,)


def test_toward_and_away_from_scale_change() -> None:
    s = scene(traj(1, (200, 240), growth=0.3), traj(2, (440, 240), growth=-0.3), traj(3, (320, 100)))
    assert select(cmd(("coming toward the camera",)), s) == (1,)
    assert select(cmd(("walking away",)), s) == (2,)


def test_an_object_cut_by_the_border_is_sized_by_its_uncut_side() -> None:
    """A dog walking toward the camera rises out of the top of the view: its visible mask shrinks
    (area ~ exp(-0.3 t)) while its width grows (exp(0.3 t)). The width measures it, so it is the
    one coming closer and not the one walking away; an object cut on a side and an end has no
    size measure at all (0.5 for "toward" and "away" alike)."""
    t = np.arange(30) / 10.0
    side = 60.0 * np.exp(0.3 * t)
    shown = 80.0 * np.exp(-0.6 * t)  # height still in view, from the top edge down
    boxes = np.stack([320 - side / 2, np.zeros_like(t), 320 + side / 2, shown], axis=1)
    rising = Trajectory(1, "ball", t, boxes, boxes.copy(), side * shown, np.ones(30, bool), 0.9)
    s = scene(rising, traj(2, (160, 300)), traj(3, (480, 300), growth=-0.3))
    assert features(s.trajectories, (W, H)).scale_rate[0] == pytest.approx(0.3)
    assert select(cmd(("coming toward the camera",)), s) == (1,)
    assert select(cmd(("walking away",)), s) == (3,)
    full = np.tile([0.0, 0.0, W, H], (30, 1)) + np.linspace(0, 1, 30)[:, None] * [5, 0, 0, 0]
    shrinking = W * H * 0.9 * np.exp(-0.3 * t)  # the mask shrinks as the view is filled and cut
    filling = Trajectory(4, "ball", t, full, full.copy(), shrinking, np.ones(30, bool), 0.9)
    f = features([filling], (W, H))
    assert f.known[0] and np.isnan(f.scale_rate[0])
    toward = RuleMotionReasoner().score(cmd(("coming toward the camera",)), scene(filling))[0][4]
    away = RuleMotionReasoner().score(cmd(("walking away",)), scene(filling))[0][4]
    assert toward == pytest.approx(away)


def test_an_object_turning_to_face_the_camera_is_sized_by_its_height() -> None:
    """A dog walking toward the camera turns to face it: seen side-on first, head-on later, its
    width and area shrink while its height, which turning does not change, grows. The height
    measures it: it is the one coming closer, and not the one walking away."""
    t = np.arange(30) / 10.0
    width, height = 120.0 * np.exp(-0.4 * t), 60.0 * np.exp(0.15 * t)
    boxes = np.stack([320 - width / 2, 240 - height / 2, 320 + width / 2, 240 + height / 2], axis=1)
    turning = Trajectory(1, "ball", t, boxes, boxes.copy(), width * height * 0.7, np.ones(30, bool), 0.9)
    s = scene(turning, traj(2, (480, 300), growth=-0.15), traj(3, (120, 300)))
    assert features(s.trajectories, (W, H)).scale_rate[0] == pytest.approx(0.15)
    assert select(cmd(("walking toward the camera",)), s) == (1,)
    assert select(cmd(("walking away",)), s) == (2,)


def test_a_height_the_border_cuts_late_is_read_where_it_is_clear() -> None:
    """A person walking closer whose head reaches the top edge near the end: the height is read on
    the samples before that (the width, steady, would say nothing); when the border cuts the top
    of all samples but one, the width is read."""
    t = np.arange(30) / 10.0
    height = 60.0 * np.exp(0.3 * t)
    top = np.maximum(300.0 - 120.0 * t, 0.0)  # at the top edge from t = 2.5 s
    boxes = np.stack([np.full_like(t, 300.0), top, np.full_like(t, 340.0), top + height], axis=1)
    cut_late = Trajectory(1, "ball", t, boxes, boxes.copy(), height * 40.0, np.ones(30, bool), 0.9)
    assert features([cut_late], (W, H)).scale_rate[0] == pytest.approx(0.3)
    side = 60.0 * np.exp(0.3 * t)
    early_top = np.where(t < 0.1, 200.0, 0.0)
    cut_early = np.stack([320 - side / 2, early_top, 320 + side / 2, early_top + 40.0], axis=1)
    rising = Trajectory(2, "ball", t, cut_early, cut_early.copy(), side * 40.0, np.ones(30, bool), 0.9)
    assert features([rising], (W, H)).scale_rate[0] == pytest.approx(0.3)  # the width


def test_an_object_with_detections_is_sized_on_their_boxes() -> None:
    """A rider walking away, whose mask was a fragment until a keyframe cut him whole: the mask box
    triples in height at 1.5 s and reads as coming closer. His detections (one per 0.5 s keyframe)
    box all of him each time and shrink: he is the one walking away, and "toward" does not fit him."""
    t = np.arange(30) / 10.0
    height = 90.0 * np.exp(-0.2 * t)
    whole = np.stack([300 - height / 4, 240 - height / 2, 300 + height / 4, 240 + height / 2], axis=1)
    masks = whole.copy()
    masks[t < 1.5, 1] = masks[t < 1.5, 3] - height[t < 1.5] / 3  # the fragment: his lower third
    detected = np.full_like(whole, np.nan)
    detected[::5] = whole[::5]
    rider = Trajectory(1, "ball", t, masks, masks.copy(), np.ones(30) * 500, np.ones(30, bool), 0.9, detected=detected)
    f = features([rider], (W, H))
    assert f.scale_rate[0] == pytest.approx(-0.2)
    unkept = Trajectory(1, "ball", t, masks, masks.copy(), np.ones(30) * 500, np.ones(30, bool), 0.9)
    assert features([unkept], (W, H)).scale_rate[0] > 0.2  # the mask boxes alone: "approaching"
    s = scene(rider, traj(2, (120, 300)), traj(3, (480, 300), growth=0.2))
    assert select(cmd(("walking away",)), s) == (1,)
    assert select(cmd(("coming toward the camera",)), s) == (3,)


def test_left_right_position_versus_direction() -> None:
    # Ball 1 is on the left but moves right; ball 2 is on the right and moves left.
    s = scene(traj(1, (100, 240), (30, 0)), traj(2, (540, 240), (-30, 0)))
    assert select(cmd(context=("on the left",)), s) == (1,)
    assert select(cmd(context=("on the right",)), s) == (2,)
    assert select(cmd(("moving to the left",)), s) == (2,)


def test_nearest_first_and_occlusion() -> None:
    s = scene(
        traj(1, (200, 240), side=80),
        traj(2, (260, 240), side=40, t0=1.0, n=20),
        occlusions=(OcclusionFact(1, 2, 0.6),),
    )
    assert select(cmd(context=("nearest",)), s) == (1,)
    assert select(cmd(context=("behind",)), s) == (2,)
    assert select(cmd(context=("in front",)), s) == (1,)
    assert select(cmd(("the first to appear",)), s) == (1,)


def test_cardinality_two_and_all() -> None:
    s = scene(
        traj(1, (100, 100), (60, 0)),
        traj(2, (100, 200), (70, 0)),
        traj(3, (500, 300), (-60, 0)),
        traj(4, (300, 400)),
    )
    assert set(select(cmd(("moving right",), cardinality=2), s)) == {1, 2}
    assert set(select(cmd(("moving right",), cardinality="all"), s)) == {1, 2}
    assert set(select(cmd(("moving",), cardinality="all"), s)) == {1, 2, 3}


def test_no_descriptors_ambiguity_and_rationale() -> None:
    s = scene(traj(1, (100, 100), (60, 0)), traj(2, (300, 300), (60, 0)))
    res = RuleMotionReasoner().select(cmd(("moving right",)), s)
    assert res.ambiguous and len(res.track_ids) == 1
    assert "moving right" in res.rationale and "#1" in res.rationale and "#2" in res.rationale
    assert set(res.scores) == {1, 2} and all(0.0 <= v <= 1.0 for v in res.scores.values())
    assert RuleMotionReasoner().select(cmd(), scene()).track_ids == ()


def test_short_history_is_unknown_not_wrong() -> None:
    s = scene(traj(1, (100, 100), (60, 0), n=1), traj(2, (300, 300), (-60, 0), n=1))
    res = RuleMotionReasoner().select(cmd(("moving right",)), s)
    assert res.ambiguous
    assert "motion unknown" in res.rationale


@pytest.mark.parametrize(
    ("motion", "context", "names"),
    [
        (("moving", "to the right"), (), ["moving right"]),
        (("running", "to the left"), (), ["moving left"]),
        (("walking away",), (), ["away"]),
        ((), ("on the left",), ["on the left"]),
        (("stopping",), ("on the left",), ["stops", "on the left"]),
        (("jumping over the fence",), (), ["moving"]),
        (("not moving",), (), ["still"]),
        (("does not move",), (), ["still"]),
        (("doesn't walk",), (), ["still"]),
        (("never moves",), (), ["still"]),
        # Any verb of displacement in the parser's lexicon, not only the commonest ones.
        (("drifting", "around the corner"), (), ["moving"]),
        (("marching",), (), ["moving"]),
        (("pushing a stroller",), (), ["moving"]),
        (("fleeing",), (), ["moving"]),
        # Actions in place and stillness are not displacement; a gerund naming a place is no verb.
        (("waving his hand",), (), []),
        (("hovering",), (), []),
        (("waiting",), ("at the crossing",), []),
        # "from" names where the motion starts: it heads the other way, or to where "to" says.
        (("coming", "from the left"), (), ["moving right"]),
        (("entering", "from the right side"), (), ["moving left"]),
        (("moving", "from left to right"), (), ["moving right"]),
        (("walking", "from the right to the left"), (), ["moving left"]),
        (("falling", "from the top"), (), ["moving down"]),
        (("running away", "from the left wall"), (), ["moving right"]),
        # Toward or away from another object is no depth: the object moves, and no more is read.
        (("running", "toward the ball"), (), ["moving"]),
        (("walking away", "from the group"), (), ["moving"]),
        (("approaching the car",), (), ["moving"]),
        # Toward or away from the camera, or the viewer, is.
        (("walking", "toward the camera"), (), ["toward"]),
        (("running", "towards us"), (), ["toward"]),
        (("approaching",), (), ["toward"]),
        (("walking away", "from the camera"), (), ["away"]),
        (("crawling", "toward the top of the screen"), (), ["slow", "moving up"]),
        (("rolling", "to the bottom of the frame"), (), ["moving down"]),
        (("without moving",), (), ["still"]),
        # A negated stop keeps moving; "the most" of motion is the fastest; comparatives compare.
        (("not stopping",), (), ["moving"]),
        (("running", "without stopping"), (), ["moving"]),
        (("moving the most",), (), ["fastest"]),
        (("moving the least",), (), ["slowest"]),
        (("most active",), (), ["fastest"]),
        (("moving", "faster"), (), ["fastest"]),
        (("slower",), (), ["slowest"]),
        # In front of the viewer is nearest to it; in front of another object is the occlusion order.
        ((), ("in front of you",), ["nearest"]),
        ((), ("in front of the camera",), ["nearest"]),
        ((), ("in front of the tree",), ["in front"]),
        (("coming", "toward you"), (), ["toward"]),
        # Growing is approaching, not the biggest.
        (("getting bigger",), (), ["toward"]),
        # A side word alone is a place in context ("the left dog") and a direction in motion.
        ((), ("left",), ["on the left"]),
        (("turning", "left"), (), ["moving left"]),
    ],
)
def test_descriptor_parsing(motion: tuple[str, ...], context: tuple[str, ...], names: list[str]) -> None:
    found, _, _ = descriptors(cmd(motion, context))
    assert sorted(n for n, _ in found) == sorted(names)


def test_camera_relative_only_when_said() -> None:
    assert descriptors(cmd(("moving away", "from the camera")))[2] is False
    assert descriptors(cmd(("coming toward the camera",)))[2] is False
    assert descriptors(cmd(("moving left on the screen",)))[2] is True


def test_unknown_phrases_are_reported() -> None:
    _, unused, _ = descriptors(cmd(context=("near the sofa",)))
    assert unused == ["near the sofa"]


def test_nothing_is_selected_when_nothing_fits() -> None:
    s = scene(traj(1, (100, 100), (-60, 0)), traj(2, (300, 300)))
    res = RuleMotionReasoner().select(cmd(("moving to the right",)), s)
    assert res.track_ids == () and "no track scores" in res.rationale


def test_without_descriptors_detection_confidence_outweighs_size_and_motion() -> None:
    """"the green square": a confident still detection beats a weakly matching, larger, moving blob."""
    confident = traj(1, (100, 100), side=30.0)
    confident.score = 0.45
    blob = traj(2, (400, 300), (80, 0), side=60.0)
    blob.score = 0.2
    command = ParsedCommand("the green square", ("green square",))
    assert select(command, scene(confident, blob)) == (1,)


def test_over_a_whole_video_a_brief_track_keeps_less_of_its_score() -> None:
    """A flicker seen 0.6 s moving right fast against the object seen 3 s moving right slowly:
    in a live window the flicker may be a new arrival, over a whole video it is an artefact."""
    steady = traj(1, (100, 200), (90, 0))
    flicker = traj(2, (300, 300), (200, 0), n=6, t0=2.4)
    live = RuleMotionReasoner().score(cmd(("moving right",)), scene(steady, flicker))[0]
    whole = SceneSummary([steady, flicker], "offline: full video", [], (W, H), 3.0, whole_video=True)
    offline = RuleMotionReasoner().score(cmd(("moving right",)), whole)[0]
    assert offline[2] < live[2] and offline[1] == pytest.approx(live[1])
    assert select(cmd(("moving right",)), scene(steady, flicker)) == (2,)  # faster, and maybe new
    assert RuleMotionReasoner().select(cmd(("moving right",)), whole).track_ids == (1,)



def test_a_part_moving_a_little_faster_gives_way_to_its_whole_object() -> None:
    """A car (#1) and its wheel (#2, box inside the car's) both move right; the wheel's flow reads a
    little faster, so the reasoner prefers it, but "the car" is the whole object. A still region
    (#3) containing the wheel's box is no whole of it: it does not move right."""
    car = traj(1, (300, 200), (60, 0), side=120.0)
    wheel = traj(2, (330, 230), (75, 0), side=30.0)
    s = scene(car, wheel, occlusions=(OcclusionFact(1, 2, 1.0),))
    res = RuleMotionReasoner().select(cmd(("driving to the right",)), s)
    assert res.track_ids == (2,)
    assert wholes_for_parts(res.track_ids, res.scores, s) == ((1,), [(2, 1)])
    assert wholes_for_parts(res.track_ids, res.scores, scene(car, wheel)) == ((2,), [])  # no overlap known
    road = traj(3, (330, 230), side=200.0)
    s = scene(wheel, road, occlusions=(OcclusionFact(3, 2, 1.0),))
    res = RuleMotionReasoner().select(cmd(("driving to the right",)), s)
    assert wholes_for_parts(res.track_ids, res.scores, s) == ((2,), [])


def test_a_person_behind_another_is_no_part_of_her() -> None:
    """Two tracks YOLOX boxed as persons: a child half hidden behind another lies inside her box,
    but is a person of his own. A weight-free cue's fragment inside the same box is a part."""
    from dataclasses import replace

    girl = replace(traj(1, (300, 200), (60, 0), side=120.0), source="yolox:person")
    boy = replace(traj(2, (300, 210), (75, 0), side=40.0), source="yolox:person")
    s = scene(girl, boy, occlusions=(OcclusionFact(1, 2, 1.0),))
    scores = {1: 0.8, 2: 0.8}
    assert wholes_for_parts((2,), scores, s) == ((2,), [])
    arm = replace(boy, source="cue:motion")
    assert wholes_for_parts((2,), scores, scene(girl, arm, occlusions=(OcclusionFact(1, 2, 1.0),))) == ((1,), [(2, 1)])


@pytest.mark.parametrize("phrase", ["spinning around", "rolling", "skating", "gliding across the water"])
def test_more_motion_verbs_mean_moving(phrase: str) -> None:
    """Verbs of motion beyond "moving"/"walking" fire the moving descriptor instead of going unused."""
    rules, unused, _ = descriptors(cmd((phrase,)))
    assert "moving" in [name for name, _ in rules] and unused == []
    s = scene(traj(1, (100, 100), (50, 0)), traj(2, (300, 300)))
    assert select(cmd((phrase,)), s) == (1,)


def test_a_direction_along_a_landmark_keeps_the_motion_verb() -> None:
    """"Running down the hill" seen from the side crosses the picture: "down" is the hill's
    slope, not the image's, so the runner is judged on running too, and is not turned down for
    not moving down the picture. Where it does go down the picture, it still scores best."""
    across = scene(traj(1, (100, 200), (120, 0)), traj(2, (400, 300)))
    chosen = RuleMotionReasoner().select(cmd(("running", "down the hill")), across)
    assert chosen.track_ids == (1,) and "moving, moving down" in chosen.rationale
    assert select(cmd(("moving down",)), across) == ()  # an image direction: nothing goes down
    names = [name for name, _ in descriptors(cmd(("running", "downward")))[0]]
    assert names == ["moving down"]  # an image direction implies the motion
    both = scene(traj(1, (100, 100), (120, 0)), traj(2, (100, 100), (60, 100)))
    assert select(cmd(("rolling", "down the hill")), both) == (2,)


def test_a_landmarks_slope_is_a_preference_not_a_test() -> None:
    """"The kart rolling down the ramp toward the camera", filmed from the ramp's side: it crosses
    the picture and grows. A track that goes down the picture and comes a little closer fits the
    slope better, not the sentence as well: the slope can at most halve a score (SLOPE_WEIGHT)."""
    s = scene(traj(1, (100, 200), (120, 0), growth=0.4), traj(2, (400, 100), (0, 80), growth=0.05))
    chosen = RuleMotionReasoner().select(cmd(("rolling down the ramp", "toward the camera")), s)
    assert chosen.track_ids == (1,) and "moving down (slope)" in chosen.rationale
    # Read as the image's direction, "moving down" rules the kart out.
    assert select(cmd(("moving down", "toward the camera")), s) == (2,)


@pytest.mark.parametrize(("context", "chosen"), [(("biggest",), 2), (("smaller",), 1), (("tallest",), 2),
                                                 (("shorter",), 1)])
def test_which_of_several_by_size(context: tuple[str, ...], chosen: int) -> None:
    # "the biggest elephant", "the smaller of the two dogs": the newest visible size decides.
    s = scene(traj(1, (100, 200), side=30.0), traj(2, (300, 200), side=60.0))
    assert select(cmd(context=context), s) == (chosen,)


@pytest.mark.parametrize(("context", "chosen"), [(("second", "from the left"), 2), (("first", "from the right"), 3),
                                                 (("third", "from the right"), 1), (("from the left",), 1)])
def test_counted_from_a_side(context: tuple[str, ...], chosen: int) -> None:
    # "the second dog from the left" counts along the picture; before, "from the left" read as moving left.
    s = scene(traj(1, (100, 200)), traj(2, (300, 200)), traj(3, (500, 200)))
    assert select(cmd(context=context), s) == (chosen,)
    found, unused, _ = descriptors(cmd(context=context))
    assert not unused and not any(name.startswith("moving") for name, _ in found)
