"""Embedded detector: motion after a camera pan, colour words, HOG for person words, saliency fallback."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared_path

from parse_vos_ros.config import load_config
from parse_vos_ros.grounding import cues
from parse_vos_ros.grounding.embedded import EmbeddedDetector
from parse_vos_ros.grounding.vocabulary import analyse_phrase, detection_phrases
from parse_vos_ros.types import FrameContext

H, W = 240, 320


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def texture(rng: np.random.Generator, h: int, w: int, tint: tuple[int, int, int], cell: int = 6) -> np.ndarray:
    coarse = rng.integers(-50, 50, size=(h // cell + 2, w // cell + 2, 1))
    tex = np.repeat(np.repeat(coarse, cell, axis=0), cell, axis=1)[:h, :w]
    return np.clip(np.asarray(tint)[None, None, :] + tex, 0, 255).astype(np.uint8)


def frame(index: int, img: np.ndarray, prev: np.ndarray | None = None,
          ego: np.ndarray | None = None) -> FrameContext:
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    prev_gray = None if prev is None else cv2.cvtColor(prev, cv2.COLOR_RGB2GRAY)
    return FrameContext(index=index, stamp=index / 30.0, image=img, gray=gray, prev_gray=prev_gray,
                        ego_affine=np.eye(2, 3) if ego is None else ego)


def panned_pair(pan: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two frames of a camera panning ``pan`` px left over a world in which a square moves down.

    The object has the same colour statistics as the background, so only motion reveals it.
    Returns (previous frame, current frame, object box on the current frame).
    """
    rng = np.random.default_rng(seed)
    world = texture(rng, H, W + 40, (120, 120, 120))
    obj = texture(rng, 50, 50, (120, 120, 120))
    frames = []
    for t, (x, y) in enumerate([(150, 80), (150, 92)]):
        img = world.copy()
        img[y:y + 50, x:x + 50] = obj
        frames.append(np.ascontiguousarray(img[:, t * pan:t * pan + W]))
    return frames[0], frames[1], np.array([150.0 - pan, 92, 200 - pan, 142])


@pytest.mark.parametrize("known_ego", [True, False])
def test_finds_moving_object_after_camera_pan(known_ego: bool) -> None:
    prev, cur, box = panned_pair(pan=8)
    # The camera moved content 8 px left; without the engine's estimate the detector's own robust
    # fit of the dense flow must remove the pan.
    ego = np.array([[1.0, 0, -8], [0, 1, 0]]) if known_ego else None
    dets = EmbeddedDetector().detect(frame(1, cur, prev, ego), ["object"])
    assert dets, "no candidates"
    assert box_iou(dets[0].box, box) > 0.5, [d.box for d in dets[:3]]
    assert dets[0].phrase == "object"


def test_static_scene_has_no_motion_candidates() -> None:
    rng = np.random.default_rng(2)
    img = texture(rng, H, W, (120, 120, 120))
    residual = cues.motion_residual(cv2.DISOpticalFlow_create(1), img[..., 0], img[..., 0], np.eye(2, 3))
    boxes, _ = cues.motion_boxes(residual, 0.5, 20, 4)
    assert len(boxes) == 0


def blob_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A red and a blue disk of equal size on a grey texture; returns (image, red box, blue box)."""
    img = texture(np.random.default_rng(4), H, W, (128, 128, 128))
    cv2.circle(img, (80, 120), 30, (220, 30, 30), -1)
    cv2.circle(img, (230, 110), 30, (30, 40, 220), -1)
    return img, np.array([50.0, 90, 111, 151]), np.array([200.0, 80, 261, 141])


@pytest.mark.parametrize(("phrase", "want"), [("red ball", 1), ("the blue ball", 2)])
def test_colour_word_picks_the_object_of_that_colour(phrase: str, want: int) -> None:
    img, red, blue = blob_scene()
    dets = EmbeddedDetector().detect(frame(0, img), [phrase])
    target, other = (red, blue) if want == 1 else (blue, red)
    assert box_iou(dets[0].box, target) > 0.5
    # The other colour's blob, if proposed at all, ranks well below.
    other_scores = [d.score for d in dets if box_iou(d.box, other) > 0.5]
    assert all(s < 0.5 * dets[0].score for s in other_scores)


def draw_person(img: np.ndarray, cx: int, top: int, height: int) -> np.ndarray:
    """A dark stick-figure silhouette (head, torso, arms, legs); returns its box."""
    u, col = height / 8, (40, 40, 60)
    cv2.circle(img, (cx, int(top + 0.6 * u)), int(0.55 * u), col, -1)
    cv2.rectangle(img, (int(cx - 0.9 * u), int(top + 1.2 * u)), (int(cx + 0.9 * u), int(top + 4.2 * u)), col, -1)
    for side in (-1, 1):
        cv2.line(img, (int(cx + side * 0.9 * u), int(top + 1.4 * u)), (int(cx + side * 1.3 * u), int(top + 4 * u)),
                 col, int(0.4 * u))
        cv2.line(img, (int(cx + side * 0.4 * u), int(top + 4.2 * u)), (int(cx + side * 0.7 * u), int(top + 8 * u)),
                 col, int(0.5 * u))
    return np.array([cx - 1.5 * u, top, cx + 1.5 * u, top + height])


def test_person_word_uses_hog(monkeypatch: pytest.MonkeyPatch) -> None:
    img = np.clip(200 + np.random.default_rng(0).integers(-10, 10, (H, W, 3)), 0, 255).astype(np.uint8)
    person = draw_person(img, 100, 40, 140)
    det = EmbeddedDetector()
    calls = []
    real = det._people.detect
    monkeypatch.setattr(det._people, "detect", lambda rgb: calls.append(rgb.shape) or real(rgb))
    people = det.detect(frame(0, img), ["person"])
    assert len(calls) == 1  # the real HOG detector ran, once
    assert box_iou(people[0].box, person) > 0.5 and people[0].score > 0.5
    det.detect(frame(0, img), ["car"])
    assert len(calls) == 1  # not for a non-person noun


@pytest.mark.shared_data
def test_hog_finds_pedestrians_in_vtest() -> None:
    cap = cv2.VideoCapture(str(shared_path("data", "video", "vtest.avi")))
    for _ in range(10):
        ok, prev = cap.read()
    ok, cur = cap.read()
    cap.release()
    assert ok
    prev, cur = cv2.cvtColor(prev, cv2.COLOR_BGR2RGB), cv2.cvtColor(cur, cv2.COLOR_BGR2RGB)
    config = load_config(None, {"grounding.embedded_hog_width": 0})
    det = EmbeddedDetector.from_config(config)
    people = det.detect(frame(11, cur, prev), ["pedestrian"])
    hog = det._people.detect(cur)[0]
    upright = [d for d in people if (d.box[3] - d.box[1]) > 1.5 * (d.box[2] - d.box[0])]
    assert len(upright) >= 2
    # Person candidates include HOG boxes, which the generic noun does not get.
    matched = [d for d in people if max(box_iou(d.box, b) for b in hog) > 0.7]
    assert len(matched) >= 2
    other = det.detect(frame(11, cur, prev), ["bin"])
    assert not any(max(box_iou(d.box, b) for b in hog) > 0.9 for d in other)


def test_generic_fallback_returns_candidates_without_motion() -> None:
    img = texture(np.random.default_rng(5), H, W, (110, 120, 110), cell=4)
    cv2.ellipse(img, (200, 140), (40, 25), 0, 0, 360, (240, 200, 40), -1)
    dets = EmbeddedDetector().detect(frame(0, img), ["gizmo"])
    assert dets and all(d.phrase == "gizmo" for d in dets)
    assert max(box_iou(d.box, np.array([160.0, 115, 241, 166])) for d in dets) > 0.5
    assert all(0.0 <= d.score <= 1.0 for d in dets)
    assert all(d.box.shape == (4,) and d.box[2] > d.box[0] and d.box[3] > d.box[1] for d in dets)


def test_boxes_are_in_full_resolution_pixels_and_capped() -> None:
    img, red, _ = blob_scene()
    big = cv2.resize(img, (W * 3, H * 3), interpolation=cv2.INTER_NEAREST)
    config = load_config(None, {"grounding.max_detections": 2})
    dets = EmbeddedDetector.from_config(config).detect(frame(0, big), ["red ball", "thing"])
    assert 1 <= len(dets) <= 2
    assert box_iou(dets[0].box, red * 3) > 0.5
    assert np.all(dets[0].box <= [W * 3, H * 3, W * 3, H * 3])


def test_bad_input_is_rejected() -> None:
    det = EmbeddedDetector()
    with pytest.raises(ValueError, match="phrase"):
        det.detect(frame(0, np.zeros((H, W, 3), np.uint8)), [])
    with pytest.raises(ValueError, match="uint8"):
        det.detect(FrameContext(0, 0.0, np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)), ["x"])


def test_prev_frame_of_other_size_is_ignored() -> None:
    img, red, _ = blob_scene()
    ctx = frame(1, img)
    ctx.prev_gray = np.zeros((10, 10), np.uint8)
    dets = EmbeddedDetector().detect(ctx, ["red ball"])
    assert box_iou(dets[0].box, red) > 0.5


@pytest.mark.parametrize(
    ("phrase", "noun", "colours", "parts", "person", "worn"),
    [
        ("the man in red", "man", ("red",), (), True, True),
        ("red sports car", "car", ("red",), (), False, False),
        ("a greyish cat", "cat", ("gray",), (), False, False),
        ("bird near the person", "bird", (), (), False, False),
        ("two people", "people", (), (), True, False),
        ("woman in a dark blue dress", "woman", ("blue",), (), True, True),  # a shade, not black and blue
        ("the dark car", "car", ("black",), (), False, False),
        ("the dark grey mini car", "car", ("dark gray",), (), False, False),  # gray shades differ in brightness
        ("a pale grey dog", "dog", ("light gray",), (), False, False),
        ("the grey car", "car", ("gray",), (), False, False),
        ("brown and white cow", "cow", ("brown", "white"), (), False, False),
        ("black swan with a red beak", "swan", ("black",), ("red",), False, False),
        ("man in a red shirt holding a blue umbrella", "man", ("red",), ("blue",), True, True),
        ("a dog chasing a red ball", "dog", (), ("red",), False, False),  # the ball is red, not the dog
        ("the woman wearing a red coat", "woman", ("red",), (), True, True),  # what she wears is hers
        ("the kid in red riding a blue bike", "kid", ("red",), ("blue",), True, True),
    ],
)
def test_phrase_analysis(phrase: str, noun: str, colours: tuple[str, ...], parts: tuple[str, ...],
                         person: bool, worn: bool) -> None:
    cues_ = analyse_phrase(phrase)
    assert (cues_.noun, cues_.colours, cues_.part_colours, cues_.person) == (noun, colours, parts, person)
    assert cues_.worn == worn  # named after the noun: what the referent wears


@pytest.mark.parametrize(("candidates", "pose", "asked"), [
    (("kid",), ("in a black shirt",), ("kid in a black shirt",)),  # what the kid wears tells kids apart
    (("woman",), ("wearing red", "smiling"), ("woman wearing red",)),
    (("swan",), ("with a red beak",), ("swan",)),  # a part's colour: a few pixels of the swan
    (("man",), ("in a hurry",), ("man",)),  # "in" without a colour
    (("man", "dog"), ("in a red shirt",), ("man", "dog")),  # whose shirt: no one candidate's
])
def test_a_detector_is_asked_for_the_colours_the_candidate_wears(candidates: tuple[str, ...], pose: tuple[str, ...],
                                                                  asked: tuple[str, ...]) -> None:
    assert detection_phrases(candidates, pose) == asked


def test_a_worn_colour_is_a_preference_an_object_colour_a_requirement() -> None:
    """A box 8 % blue (a dark blue dress) beside one 30 % blue: as the object's colour ("the blue
    ball") the first keeps 40 % of its score, as a colour worn ("the woman in blue") 90 %."""
    hsv = np.zeros((100, 200, 3), np.uint8)
    hsv[:8, :100] = (110, 200, 150)  # 8 % of the left box is blue
    hsv[:30, 100:] = (110, 200, 150)  # 30 % of the right one
    boxes = np.array([[0, 0, 100, 100], [100, 0, 200, 100]], float)
    hard = cues.colour_factors(hsv, boxes, ("blue",), ())
    soft = cues.colour_factors(hsv, boxes, ("blue",), (), worn=True)
    assert hard[1] == soft[1] == 1.0
    assert hard[0] == pytest.approx(0.2 + 0.8 * 8 / 30, abs=0.01) and soft[0] == pytest.approx(0.9, abs=0.01)


def test_a_colour_worn_proposes_no_region_of_its_own() -> None:
    """A red square: "the red box" gets it from the colour cue; "the man in red" does not (a red
    shirt is no referent: the colour only re-ranks the other cues' boxes)."""
    img = texture(np.random.default_rng(3), H, W, (60, 110, 60))
    cv2.rectangle(img, (100, 80), (160, 140), (220, 20, 20), -1)
    sources = {phrase: {d.source for d in EmbeddedDetector().detect(frame(0, img), [phrase])}
               for phrase in ("the red box", "the man in red")}
    assert "cue:colour" in sources["the red box"]
    assert "cue:colour" not in sources["the man in red"]


def test_part_colour_prefers_the_object_carrying_that_part() -> None:
    """Two grey disks, one with a small red patch: "a disk with a red spot" ranks that one first."""
    img = texture(np.random.default_rng(5), H, W, (60, 110, 60))
    cv2.circle(img, (80, 120), 30, (200, 200, 200), -1)
    cv2.circle(img, (230, 110), 30, (200, 200, 200), -1)
    cv2.circle(img, (230, 110), 5, (220, 20, 20), -1)  # about 3% of the disk's box
    dets = EmbeddedDetector().detect(frame(0, img), ["disk with a red spot"])
    marked = [d.score for d in dets if box_iou(d.box, np.array([200.0, 80, 261, 141])) > 0.5]
    plain = [d.score for d in dets if box_iou(d.box, np.array([50.0, 90, 111, 151])) > 0.5]
    assert marked and plain and max(marked) > 1.2 * max(plain)


def test_ring_contrast_separates_an_isolated_mover_from_a_smear() -> None:
    strength = np.zeros((100, 100), np.float32)
    strength[40:60, 40:60] = 1.0  # a mover on still surroundings
    strength[:, 80:] = 0.8  # a band of flow noise
    contrast = cues.ring_contrast(strength, np.array([[40.0, 40, 60, 60], [80, 30, 100, 50]]))
    assert contrast[0] == pytest.approx(1.0)
    # Ring of the band box: 25 x 30 - 400 = 350 px holding 20 x 10 band pixels at 0.8 (the band goes
    # on above and below the box): 1 - (160 / 350) / 0.8.
    assert contrast[1] == pytest.approx(1 - (160 / 350) / 0.8)


def test_background_leaving_the_view_is_not_motion() -> None:
    """A pure pan: the strip that leaves the view has no match, and must not look like a mover."""
    rng = np.random.default_rng(3)
    world = texture(rng, H, W + 40, (120, 120, 120))[..., 0]
    prev, cur = np.ascontiguousarray(world[:, 20:20 + W]), np.ascontiguousarray(world[:, 36:36 + W])
    residual = cues.motion_residual(cv2.DISOpticalFlow_create(1), prev, cur, np.array([[1.0, 0, -16], [0, 1, 0]]))
    assert residual[:, :14].max() == 0.0  # the 16 px that left the view (less the margin) are zeroed
    assert len(cues.motion_boxes(residual, 0.5, 20, 4)[0]) == 0


def test_a_box_over_the_whole_frame_is_no_candidate() -> None:
    """A colour filling the whole view names the scene, not an object in it."""
    img = texture(np.random.default_rng(6), H, W, (30, 40, 200))
    dets = EmbeddedDetector().detect(frame(0, img), ["blue thing"])
    assert all((d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) < 0.9 * H * W or d.score == 0 for d in dets)


def test_saturated_object_outranks_tinted_background_of_the_same_hue() -> None:
    """A background with green-tinted patches: the vivid green square must still come first."""
    rng = np.random.default_rng(8)
    img = texture(rng, H, W, (120, 120, 120), cell=10)
    for x, y in [(20, 20), (240, 170), (250, 30)]:
        img[y:y + 45, x:x + 45] = np.clip(img[y:y + 45, x:x + 45] + np.array([-25, 35, -25]), 0, 255)
    img[100:140, 140:180] = (30, 190, 40)
    dets = EmbeddedDetector().detect(frame(0, img), ["green square"])
    assert box_iou(dets[0].box, np.array([140.0, 100, 180, 140])) > 0.5, [d.box for d in dets[:3]]


def test_reset_forgets_the_long_baseline_reference() -> None:
    """A slow object shows up against the frame of the previous call; after ``reset`` (a new
    stream) that old frame must not be used, so the same call finds no moving candidate there."""
    prev, cur, box = panned_pair(pan=0, seed=5)

    def motion_hit(detector: EmbeddedDetector) -> bool:
        dets = detector.detect(frame(10, cur), ["object"])  # no prev_gray: only the long baseline sees motion
        return any(box_iou(d.box, box) > 0.5 for d in dets)

    warm = EmbeddedDetector()
    warm.detect(frame(1, prev), ["object"])
    assert motion_hit(warm)
    reset = EmbeddedDetector()
    reset.detect(frame(1, prev), ["object"])
    reset.reset()
    assert not motion_hit(reset)


def test_a_colour_no_candidate_shows_leaves_the_other_cues_to_decide() -> None:
    """Said "green", filmed red and blue: the blobs stay candidates strong enough to start tracks."""
    img, red, blue = blob_scene()
    dets = EmbeddedDetector().detect(frame(0, img), ["green ball"])
    assert dets and dets[0].score > load_config(None).engine.min_detection_score
    assert max(box_iou(dets[0].box, red), box_iou(dets[0].box, blue)) > 0.5


def test_dark_grey_picks_the_dark_object_on_a_mid_grey_ground() -> None:
    """Both disks and the ground are gray; "dark grey" must mean the darker one (a car on a road),
    although the lighter disk contrasts as much with the ground."""
    img = texture(np.random.default_rng(6), H, W, (140, 140, 140))
    cv2.circle(img, (80, 120), 30, (70, 70, 72), -1)
    cv2.circle(img, (230, 110), 30, (210, 210, 212), -1)
    dark, light = np.array([50.0, 90, 111, 151]), np.array([200.0, 80, 261, 141])
    dets = EmbeddedDetector().detect(frame(0, img), ["the dark grey ball"])
    assert box_iou(dets[0].box, dark) > 0.5, [d.box for d in dets[:3]]
    assert all(d.score < 0.7 * dets[0].score for d in dets if box_iou(d.box, light) > 0.5)
