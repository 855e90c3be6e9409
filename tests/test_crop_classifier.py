"""MobileNetV2 ImageNet crop recognition: crop geometry, and the real vendored model on real photo crops."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from parse_vos_ros.grounding.crop_classifier import INPUT_SIDE, crop_square, subtree_mass
from parse_vos_ros.grounding.word_classes import classes_for

FIXTURES = Path(__file__).parent / "fixtures"


def read_rgb(name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(FIXTURES / name)), cv2.COLOR_BGR2RGB)


def test_crop_is_the_widened_box_resized_to_the_input() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 90:110] = 255  # a 20 x 20 white square
    crop = crop_square(image, np.array([90, 40, 110, 60]), margin=0.5)  # 10 px of context each side
    assert crop.shape == (INPUT_SIDE, INPUT_SIDE, 3)
    # The white square fills the middle half of the 40 x 40 widened crop.
    assert crop[INPUT_SIDE // 2, INPUT_SIDE // 2, 0] == 255 and crop[5, 5, 0] == 0
    white = (crop[..., 0] > 127).mean()
    assert white == pytest.approx(0.25, abs=0.02)
    # A box at the border is clipped to the image, never empty.
    assert crop_square(image, np.array([195, 95, 260, 130])).shape == (INPUT_SIDE, INPUT_SIDE, 3)


def test_subtree_mass_sums_the_named_columns() -> None:
    probs = np.zeros((2, 1001), np.float32)
    probs[0, [5, 6]] = [0.25, 0.5]
    probs[1, 7] = 1.0
    np.testing.assert_allclose(subtree_mass(probs, [5, 6, 7]), [0.75, 1.0])
    assert subtree_mass(probs, []).tolist() == [0.0, 0.0]


@pytest.fixture(scope="module")
def classifier():
    pytest.importorskip("ai_edge_litert")
    from parse_vos_ros.grounding.crop_classifier import CropClassifier
    from parse_vos_ros.models import vendored_path

    return CropClassifier(vendored_path("coral/mobilenet_v2_1.0_224_quant.tflite"), threads=1)


def mass(probs: np.ndarray, *words: str) -> float:
    classes = sorted({i for w in words for i in classes_for(w).imagenet})
    return float(subtree_mass(probs[None], classes)[0])


def test_real_model_recognizes_a_cushion_as_bedding_or_furniture(classifier) -> None:
    crop = read_rgb("bedroom_00000_pillow.jpg")
    probs = classifier.probabilities(crop, np.array([[0, 0, crop.shape[1], crop.shape[0]]]))
    assert probs.shape == (1, 1001) and probs.dtype == np.float32
    assert probs[0].sum() == pytest.approx(1.0, abs=0.1)  # a softmax, dequantized (1/256 steps)
    assert mass(probs[0], "furniture", "bedding") > 0.7
    assert mass(probs[0], "animal") < 0.05


def test_real_model_tells_the_bed_from_the_children(classifier) -> None:
    image = read_rgb("bedroom_00000.jpg")
    # The bed and the two children, boxes as YOLOX gives them on this frame (480x270 pixels).
    boxes = np.array([[1, 137, 363, 268], [158, 3, 258, 200], [79, 65, 158, 203]], float)
    probs = classifier.probabilities(image, boxes)
    bed, girl, boy = (mass(p, "furniture", "bedding") for p in probs)
    assert bed > 0.7
    assert girl < 0.2 and boy < 0.2
