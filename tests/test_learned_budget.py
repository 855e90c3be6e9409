"""The learned detector's crop budget and recognition reuse, with stand-ins for the two networks (the
real networks are exercised in test_learned_detector.py)."""

from __future__ import annotations

import numpy as np
import pytest

from parse_vos_ros.grounding.embedded import EmbeddedDetector
from parse_vos_ros.grounding.learned import LearnedDetector, LearnedParams
from parse_vos_ros.grounding.word_classes import classes_for
from parse_vos_ros.grounding.yolox import COCO_CLASSES, Boxes
from parse_vos_ros.types import FrameContext

HORSE = COCO_CLASSES.index("horse")
CAMEL = classes_for("camel").imagenet[0]


class FixedBoxes:
    """Stands in for YoloxDetector: the same horse boxes on every frame."""

    score_threshold = 0.25

    def __init__(self, n: int) -> None:
        self.boxes = np.array([[10 + 50 * i, 10, 50 + 50 * i, 60] for i in range(n)], float)

    def __call__(self, image: np.ndarray) -> Boxes:
        n = len(self.boxes)
        return Boxes(self.boxes.copy(), np.full(n, 0.8), np.full(n, HORSE, np.int64), np.full(n, 0.9))


class CountingClassifier:
    """Stands in for CropClassifier: box k (by its x) is a camel with probability ``sure[k]``."""

    def __init__(self, sure: list[float]) -> None:
        self.sure = sure
        self.asked: list[list[int]] = []

    def probabilities(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        ks = [int((b[0] - 10) // 50) for b in boxes]
        self.asked.append(ks)
        out = np.zeros((len(boxes), 1001), np.float32)
        for row, k in enumerate(ks):
            out[row, CAMEL] = self.sure[k]
            out[row, 0] = 1.0 - self.sure[k]
        return out


def frame(index: int) -> FrameContext:
    image = np.zeros((100, 400, 3), np.uint8)
    return FrameContext(index=index, stamp=index / 30, image=image, gray=image[..., 0])


def test_budget_new_boxes_first_then_least_confident_and_scores_follow_recognition() -> None:
    classifier = CountingClassifier([0.9, 0.1, 0.6, 0.95, 0.3, 0.05])
    detector = LearnedDetector(FixedBoxes(6), classifier, ["background"] * 1001, EmbeddedDetector(),
                               LearnedParams(classifier_crops=2))
    first = detector.detect(frame(0), ["a camel"])
    assert len(classifier.asked[0]) == 2 and detector.crops_last_keyframe == 2
    detector.detect(frame(15), ["a camel"])
    detector.detect(frame(30), ["a camel"])
    asked = [k for batch in classifier.asked for k in batch]
    assert sorted(asked[:6]) == list(range(6))  # every box once before any is asked again
    # Then the least confident earlier answers (lowest best ImageNet class probability): boxes 5, 1.
    detector.detect(frame(45), ["a camel"])
    assert classifier.asked[-1] == [5, 1]
    final = detector.detect(frame(60), ["a camel"])
    by_box = {int((d.box[0] - 10) // 50): d for d in final}
    # The mass under "camel" saturates at MASS_FULL (0.5): boxes 0, 2, 3 tie, then 4 > 1 > 5.
    assert by_box[3].score == by_box[0].score == by_box[2].score > by_box[4].score > by_box[1].score
    assert by_box[1].score > by_box[5].score
    assert by_box[3].source.startswith("imagenet:") and first  # recognized boxes say so


class MixedBoxes:
    """Stands in for YoloxDetector: a boat, a motorcycle and a dog, side by side."""

    score_threshold = 0.25
    classes = ("boat", "motorcycle", "dog")

    def __call__(self, image: np.ndarray) -> Boxes:
        boxes = np.array([[10 + 50 * i, 10, 50 + 50 * i, 60] for i in range(3)], float)
        return Boxes(boxes, np.full(3, 0.8), np.array([COCO_CLASSES.index(c) for c in self.classes], np.int64),
                     np.full(3, 0.9))


class ScooterClassifier:
    """Stands in for CropClassifier: the motorcycle's crop (the second box) is a motor scooter."""

    def probabilities(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        out = np.zeros((len(boxes), 1001), np.float32)
        out[:, 0] = 1.0
        for row, b in enumerate(boxes):
            if int((b[0] - 10) // 50) == 1:
                out[row, SCOOTER], out[row, 0] = 0.9, 0.1
        return out


SCOOTER = classes_for("motor scooter").imagenet[0]


def test_a_noun_of_two_senses_is_looked_for_beyond_its_coco_class() -> None:
    # WordNet's first "scooter" is a water scooter (a boat); the motor scooter is in no COCO class,
    # YOLOX boxes it as some vehicle and the classifier tells it apart.
    words = classes_for("the black scooter")
    assert words.coco == (COCO_CLASSES.index("boat"),) and words.beyond == ("vehicle",)
    assert classes_for("the dog").beyond == () and classes_for("a camel").beyond == ()
    detector = LearnedDetector(MixedBoxes(), ScooterClassifier(), ["background"] * 1001, EmbeddedDetector(),
                               LearnedParams(classifier_crops=4))
    dets = detector.detect(frame(0), ["the black scooter"])
    by_box = {int((d.box[0] - 10) // 50): d for d in dets if d.source.startswith(("yolox", "imagenet"))}
    assert set(by_box) == {0, 1}  # the boat (its own class) and the motorcycle (a vehicle); never the dog
    assert by_box[1].source.startswith("imagenet:") and by_box[1].score > by_box[0].score


class SureAndLoose:
    """Stands in for YoloxDetector: a horse surely (box 0) and an object of no sure class (box 1)."""

    score_threshold = 0.25
    nms_iou = 0.45

    def __call__(self, image: np.ndarray) -> Boxes:
        boxes = np.array([[10, 10, 50, 60], [60, 10, 100, 60]], float)
        return Boxes(boxes, np.array([0.8, 0.05]), np.array([HORSE, COCO_CLASSES.index("person")], np.int64),
                     np.array([0.9, 0.9]))


def test_an_object_of_no_sure_class_counts_only_once_recognized() -> None:
    classifier = CountingClassifier([0.9, 0.9])
    detector = LearnedDetector(SureAndLoose(), classifier, ["background"] * 1001, EmbeddedDetector(),
                               LearnedParams(classifier_crops=1))
    first = detector.detect(frame(0), ["a camel"])
    assert classifier.asked == [[0]]  # the sure box first; the budget is spent
    assert not [d for d in first if d.box[0] == 60]  # box 1 waits, and is no detection meanwhile
    second = detector.detect(frame(15), ["a camel"])
    assert classifier.asked[-1] == [1]
    loose = [d for d in second if d.box[0] == 60]
    assert len(loose) == 1 and loose[0].source.startswith("imagenet:")
    assert loose[0].score == pytest.approx(0.5 + 0.5 * 0.05)  # fit 1 x (0.5 + 0.5 x its YOLOX score)
