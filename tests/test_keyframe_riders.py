"""A rider and what they ride are one object: a selected target's keyframe mask takes in the
bicycle, motorbike or horse (``tracking.keyframe_mask_join_riders``), with a scene double that
answers like DeepLab inside the crop it is given, and with the real models on a DAVIS frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared_path

from parse_vos_ros.config import load_config
from parse_vos_ros.grounding.yolox import COCO_CLASSES, YoloxDetector
from parse_vos_ros.models import vendored_path
from parse_vos_ros.tracking.deeplab import BACKGROUND, DeepLabMasker, crop_box
from parse_vos_ros.tracking.keyframe_masks import KeyframeMasks, riding

LABELS = ("background", "bicycle", "car", "horse", "motorbike", "person")
BIKE, CAR, PERSON = LABELS.index("bicycle"), LABELS.index("car"), LABELS.index("person")
SIZE = (80, 60)  # (w, h): the working resolution, also the image's (scale 1)


class _Scene:
    """A masker double over a fixed label image: inside the crop of the box it is given (grown as
    DeepLab grows it) it answers the scene's labels, background elsewhere."""

    labels = LABELS

    def __init__(self, scene: np.ndarray) -> None:
        self.scene = scene
        self.boxes: list[np.ndarray] = []

    def label_map(self, image: np.ndarray, box: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        self.boxes.append(np.asarray(box, float))
        x0, y0, x1, y1 = crop_box(box, image.shape[1], image.shape[0])
        out = np.full(out_size[::-1], BACKGROUND, np.uint8)
        out[y0:y1, x0:x1] = self.scene[y0:y1, x0:x1]
        return out

    def label_ids(self, names: list[str]) -> frozenset[int]:
        return frozenset(LABELS.index(n) for n in names if n in LABELS)


def _rider_scene(mount: int = BIKE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A person (rows 10-34) sitting on a ``mount`` (rows 30-50, wider than the person): the
    scene's labels, the person's mask (the track's propagated mask) and the mount's."""
    scene = np.zeros(SIZE[::-1], np.uint8)
    mount_mask = np.zeros(SIZE[::-1], bool)
    mount_mask[30:50, 24:56] = True
    person = np.zeros(SIZE[::-1], bool)
    person[10:34, 34:46] = True
    scene[mount_mask] = mount
    scene[person] = PERSON
    return scene, person, mount_mask


def _masks(km: KeyframeMasks, person: np.ndarray, selected: tuple[int, ...] = (3,),
           fresh: tuple[int, ...] = ()) -> dict[int, np.ndarray]:
    image = np.zeros((*SIZE[::-1], 3), np.uint8)
    km.set_phrases(["the cyclist"])
    return km.masks(image, {3: person}, selected, fresh, {})


def test_a_selected_rider_takes_in_the_whole_bicycle() -> None:
    scene, person, bike = _rider_scene()
    masker = _Scene(scene)
    out = _masks(KeyframeMasks(masker, 2, join_riders=True), person)  # type: ignore[arg-type]
    # The bicycle leaves the person's crop at both sides: a second crop around the two finds all of it.
    assert len(masker.boxes) == 2
    np.testing.assert_array_equal(out[3], person | bike)


def test_riders_are_not_joined_when_off_for_new_tracks_or_to_a_car() -> None:
    scene, person, _ = _rider_scene()
    out = _masks(KeyframeMasks(_Scene(scene), 2, join_riders=False), person)  # type: ignore[arg-type]
    # Off: the parts of the bicycle inside the person's crop touch the person and stay (any
    # non-background label in the crop is the object), the rest of it is never looked for.
    assert out[3].sum() < person.sum() + 0.5 * (scene == BIKE).sum()
    masker = _Scene(scene)
    fresh = _masks(KeyframeMasks(masker, 2, join_riders=True), person, selected=(), fresh=(3,))  # type: ignore[arg-type]
    assert len(masker.boxes) == 1 and fresh[3].sum() == out[3].sum()  # only selected targets are joined
    car_scene, person, _ = _rider_scene(CAR)
    masker = _Scene(car_scene)
    on_car = _masks(KeyframeMasks(masker, 2, join_riders=True), person)  # type: ignore[arg-type]
    # A person is not a car's rider: the car is not looked for beyond the crop.
    assert len(masker.boxes) == 1
    np.testing.assert_array_equal(on_car[3], _masks(KeyframeMasks(_Scene(car_scene), 2), person)[3])  # type: ignore[arg-type]


def test_a_mount_already_joined_needs_no_second_crop() -> None:
    scene, person, bike = _rider_scene()
    masker = _Scene(scene)
    # The propagated mask holds the rider and the mount (joined on an earlier keyframe): its crop
    # holds the whole mount, one model call finds both.
    out = _masks(KeyframeMasks(masker, 2, join_riders=True), person | bike)  # type: ignore[arg-type]
    assert len(masker.boxes) == 1
    np.testing.assert_array_equal(out[3], person | bike)


def test_a_mount_cut_off_by_the_image_border_needs_no_second_crop() -> None:
    scene = np.zeros(SIZE[::-1], np.uint8)
    scene[55:60, 36:44] = BIKE  # under the person, running out of the picture at the bottom
    person = np.zeros(SIZE[::-1], bool)
    person[38:59, 34:46] = True  # the person's crop reaches the image's bottom row
    scene[person] = PERSON
    masker = _Scene(scene)
    out = _masks(KeyframeMasks(masker, 2, join_riders=True), person)  # type: ignore[arg-type]
    assert len(masker.boxes) == 1  # nothing beyond the border to look for
    assert out[3][59, 36:44].all() and out[3][person].all()


def test_a_person_beside_a_bicycle_does_not_ride_it() -> None:
    scene = np.zeros(SIZE[::-1], np.uint8)
    scene[35:50, 30:50] = BIKE
    person = np.zeros(SIZE[::-1], bool)
    person[10:50, 20:30] = True  # standing beside it, touching it, not over it
    scene[person] = PERSON
    masker = _Scene(scene)
    out = _masks(KeyframeMasks(masker, 2, join_riders=True), person)  # type: ignore[arg-type]
    # The part of the bicycle in the person's crop stays, as any label touching the object does
    # (what the profile did before riders were joined); the rest of it is not joined.
    np.testing.assert_array_equal(out[3], _masks(KeyframeMasks(_Scene(scene), 2), person)[3])  # type: ignore[arg-type]
    assert out[3].sum() < person.sum() + 0.5 * (scene == BIKE).sum()
    assert riding(person, scene == BIKE) is False
    rider, bike = _rider_scene()[1:]
    assert riding(rider, bike)


@pytest.mark.shared_data
def test_the_real_models_join_a_horse_to_its_rider() -> None:
    """DAVIS-2016 ``horsejump-high`` frame 10: YOLOX boxes the rider; the rider's DeepLab mask
    alone covers a small part of the annotated object (horse and rider), joined most of it."""
    root = shared_path("data", "davis2016")
    bgr = cv2.imread(str(root / "JPEGImages" / "480p" / "horsejump-high" / "00010.jpg"))
    gt = cv2.imread(str(root / "Annotations" / "480p" / "horsejump-high" / "00010.png"), 0) > 0
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    boxes = YoloxDetector(vendored_path("yolox-nano/yolox_nano.onnx"), 1, 0.3, 0.45)(image)
    people = [b for b, c in zip(boxes.boxes, boxes.classes, strict=True) if COCO_CLASSES[int(c)] == "person"]
    assert people, "YOLOX finds the rider"
    masker = DeepLabMasker.named(load_config("default").tracking.keyframe_mask_model)
    labels = masker.label_map(image, people[0])
    assert labels is not None
    rider = labels == masker.labels.index("person")
    km = KeyframeMasks(masker, 2, join_riders=True)
    km.set_phrases(["the rider"])
    once = km.masks(image, {1: rider}, (1,), (), {})[1]
    # The next keyframe's crop is the joined mask's box: a long mount is taken in over two.
    twice = km.masks(image, {1: once}, (1,), (), {})[1]

    def iou(mask: np.ndarray) -> float:
        return float((mask & gt).sum() / (mask | gt).sum())

    scores = iou(rider), iou(once), iou(twice)
    assert scores[0] < 0.35 and scores[1] > scores[0] + 0.25 and scores[2] > 0.58, scores
