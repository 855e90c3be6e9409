"""YOLOX-Nano: the decoder's arithmetic on hand-built raw outputs, and the real vendored model on real photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from parse_vos_ros.grounding.yolox import (
    COCO_CLASSES,
    INPUT_SIZE,
    PAD_VALUE,
    ROW,
    coco_indices,
    decode,
    grids,
    letterbox,
)

FIXTURES = Path(__file__).parent / "fixtures"
PERSON = COCO_CLASSES.index("person")
DOG = COCO_CLASSES.index("dog")


def raw_output() -> np.ndarray:
    """All anchors silent (objectness 0), shape (1, 3549, 85)."""
    cells, _ = grids()
    return np.zeros((1, cells.shape[0], ROW), np.float32)


def anchor_row(stride: int, gx: int, gy: int) -> int:
    """Row of grid cell (gx, gy) of ``stride`` in the output (grids of 8, 16, 32, each row-major)."""
    offset = 0
    for s in (8, 16, 32):
        n = INPUT_SIZE // s
        if s == stride:
            return offset + gy * n + gx
        offset += n * n
    raise ValueError(stride)


def test_grids_are_the_three_strides_row_major() -> None:
    cells, steps = grids()
    assert cells.shape == (52 * 52 + 26 * 26 + 13 * 13, 2) == (3549, 2)
    assert np.array_equal(cells[:3], [[0, 0], [1, 0], [2, 0]])  # x varies fastest
    assert np.array_equal(cells[52], [0, 1])
    assert steps[0] == 8 and steps[52 * 52] == 16 and steps[-1] == 32
    assert np.array_equal(cells[-1], [12, 12])


def test_decode_arithmetic_on_hand_built_rows() -> None:
    raw = raw_output()
    # Stride 16, cell (10, 5): raw xy (0.5, 0.25), raw wh (log 2, log 4).
    r = anchor_row(16, 10, 5)
    raw[0, r, :4] = [0.5, 0.25, np.log(2.0), np.log(4.0)]
    raw[0, r, 4] = 0.9
    raw[0, r, 5 + DOG] = 0.8
    raw[0, r, 5 + PERSON] = 0.5  # lower class score: the anchor is a dog
    scale = 0.5  # the image was shrunk by half into the 416 input
    out = decode(raw, scale, (2000, 2000), score_threshold=0.3, nms_iou=0.5)
    assert len(out) == 1
    cx, cy = (10 + 0.5) * 16, (5 + 0.25) * 16  # 168, 84 network px
    w, h = 2.0 * 16, 4.0 * 16  # 32, 64 network px
    expected = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) / scale
    np.testing.assert_allclose(out.boxes[0], expected, rtol=1e-6)
    assert out.classes[0] == DOG
    assert out.scores[0] == pytest.approx(0.9 * 0.8, rel=1e-6)


def test_decode_threshold_nms_per_class_and_clipping() -> None:
    raw = raw_output()
    # Two overlapping person boxes on neighbouring stride-8 cells, a dog box one cell below them.
    for (gx, gy), obj, cls in (((20, 20), 0.9, PERSON), ((21, 20), 0.8, PERSON), ((20, 21), 0.7, DOG)):
        r = anchor_row(8, gx, gy)
        raw[0, r, 2:4] = np.log(8.0)  # 64 x 64 network px
        raw[0, r, 4] = obj
        raw[0, r, 5 + cls] = 1.0
    # A weak anchor below the threshold, and one running off the image (clipped).
    weak = anchor_row(32, 3, 3)
    raw[0, weak, 4], raw[0, weak, 5] = 0.2, 1.0
    edge = anchor_row(32, 12, 0)
    raw[0, edge, 2:4] = np.log(4.0)
    raw[0, edge, 4], raw[0, edge, 5 + DOG] = 0.6, 1.0
    out = decode(raw, 1.0, (416, 300), score_threshold=0.3, nms_iou=0.5)
    labels = [(COCO_CLASSES[c], round(s, 3)) for c, s in zip(out.classes, out.scores, strict=True)]
    # One person survives NMS, the dog overlapping it is another class and stays; best first.
    assert labels == [("person", 0.9), ("dog", 0.7), ("dog", 0.6)]
    edge_box = out.boxes[2]
    assert edge_box[2] == 416 and edge_box[1] == 0  # clipped to the image, not the network input
    assert np.all(out.boxes[:, 3] <= 300)


def test_a_withheld_class_gives_the_anchor_its_next_best_class() -> None:
    raw = raw_output()
    r = anchor_row(16, 10, 5)
    raw[0, r, 2:4] = np.log(4.0)
    raw[0, r, 4], raw[0, r, 5 + DOG], raw[0, r, 5 + PERSON] = 0.9, 0.8, 0.5
    out = decode(raw, 1.0, (416, 416), score_threshold=0.3, nms_iou=0.5, withheld=(DOG,))
    assert out.classes.tolist() == [PERSON] and out.scores[0] == pytest.approx(0.9 * 0.5, rel=1e-6)
    assert decode(raw, 1.0, (416, 416), 0.3, 0.5, withheld=(DOG, PERSON)).classes.size == 0
    assert raw[0, r, 5 + DOG] == pytest.approx(0.8)  # the network's output is left as it was


def test_an_object_of_no_sure_class_is_kept_by_its_objectness_when_asked() -> None:
    raw = raw_output()
    r = anchor_row(32, 4, 4)
    raw[0, r, 2:4] = np.log(2.0)
    raw[0, r, 4], raw[0, r, 5 + DOG] = 0.8, 0.1  # surely something, hardly a dog: score 0.08
    assert len(decode(raw, 1.0, (416, 416), score_threshold=0.25, nms_iou=0.5)) == 0
    out = decode(raw, 1.0, (416, 416), score_threshold=0.25, nms_iou=0.5, objectness_threshold=0.25)
    assert out.classes.tolist() == [DOG]
    assert out.scores[0] == pytest.approx(0.08) and out.objectness[0] == pytest.approx(0.8)


def test_coco_indices_name_an_unknown_class() -> None:
    assert coco_indices(("dog", "person")) == {DOG, PERSON}
    with pytest.raises(ValueError, match=r"unknown COCO classes \['camel'\]"):
        coco_indices(("dog", "camel"))


def test_decode_rejects_a_wrong_number_of_rows() -> None:
    with pytest.raises(ValueError, match="3549"):
        decode(np.zeros((1, 100, ROW)), 1.0, (416, 416), 0.3, 0.5)


def test_letterbox_places_the_image_top_left_in_bgr() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[..., 0] = 255  # pure red in RGB
    blob, scale = letterbox(image)
    assert blob.shape == (1, 3, INPUT_SIZE, INPUT_SIZE) and blob.dtype == np.float32
    assert scale == pytest.approx(416 / 200)
    assert blob[0, 2, 0, 0] == 255 and blob[0, 0, 0, 0] == 0  # channel 2 is red (BGR)
    assert np.all(blob[0, :, 300:, :] == PAD_VALUE)  # below the 208-row image: padding
    assert blob[0, 2, 207, 415] == 255


@pytest.fixture(scope="module")
def yolox():
    pytest.importorskip("onnxruntime")
    from parse_vos_ros.grounding.yolox import YoloxDetector
    from parse_vos_ros.models import vendored_path

    return YoloxDetector(vendored_path("yolox-nano/yolox_nano.onnx"), threads=1, score_threshold=0.3, nms_iou=0.45)


def read_rgb(name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(FIXTURES / name)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("name", ["bedroom_00000.jpg", "bedroom_00199.jpg"])
def test_real_model_finds_both_children(yolox, name: str) -> None:
    image = read_rgb(name)
    found = yolox(image)
    people = found.boxes[found.classes == PERSON]
    named = [(COCO_CLASSES[c], round(float(s), 2)) for c, s in zip(found.classes, found.scores, strict=True)]
    assert len(people) >= 2, f"{name}: {named}"
    two = people[:2]
    # Two distinct children: boxes that barely overlap, each child-sized (a fifth to most of the height).
    ix = max(0.0, min(two[0, 2], two[1, 2]) - max(two[0, 0], two[1, 0]))
    assert ix < 0.3 * min(two[0, 2] - two[0, 0], two[1, 2] - two[1, 0])
    heights = (two[:, 3] - two[:, 1]) / image.shape[0]
    assert np.all((heights > 0.2) & (heights < 1.0))
    assert found.scores[found.classes == PERSON][1] > 0.5
