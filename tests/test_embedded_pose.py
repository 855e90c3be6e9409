"""Embedded pose verifier: posture from aspect ratio, colour words from HSV, 0.5 otherwise."""

from __future__ import annotations

import numpy as np

from parse_vos_ros.config import load_config
from parse_vos_ros.reasoning.embedded_pose import EmbeddedPoseVerifier, colour_fraction


def _crop(h: int, w: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.full((h, w, 3), rgb, np.uint8)


def test_posture_from_aspect_ratio() -> None:
    v = EmbeddedPoseVerifier.from_config(load_config(None))
    crops = {1: [_crop(90, 40, (90, 90, 90))] * 3, 2: [_crop(40, 100, (90, 90, 90))] * 3}
    standing = v.score("standing", crops)
    lying = v.score("lying down", crops)
    assert standing[1] > 0.8 > standing[2]
    assert lying[2] > 0.8 > lying[1]


def test_colour_words() -> None:
    v = EmbeddedPoseVerifier()
    crops = {1: [_crop(50, 50, (220, 30, 30))], 2: [_crop(50, 50, (30, 60, 220))]}
    red = v.score("in red", crops)
    assert red[1] == 1.0 and red[2] == 0.0
    assert colour_fraction(_crop(20, 20, (250, 250, 250)), "white") == 1.0


def test_unknown_text_and_missing_crops_carry_no_signal() -> None:
    v = EmbeddedPoseVerifier()
    crops = {1: [_crop(50, 20, (0, 0, 0))], 2: []}
    assert v.score("with a raised arm", crops) == {1: 0.5, 2: 0.5}
    assert v.score("standing", crops)[2] == 0.5
    assert v.understood("a man standing in white, smiling") == ["standing", "white"]


def test_postures_are_read_only_of_people_and_animals() -> None:
    """A kid or a dog standing is taller than when lying; a shape or a car has no posture ("the
    green triangle standing still" is only still): the box's shape says nothing there, colour
    words still do."""
    v = EmbeddedPoseVerifier()
    crops = {1: [_crop(90, 40, (30, 200, 30))], 2: [_crop(40, 100, (30, 200, 30))]}
    for subject in ("the kid", "dog"):
        standing = v.score("standing", crops, subject)
        assert standing[1] > standing[2]
    for subject in ("green triangle", "car"):
        assert v.score("standing", crops, subject) == {1: 0.5, 2: 0.5}
        assert v.score("standing in green", crops, subject) == {1: 1.0, 2: 1.0}
    assert v.understood("lying in white", "car") == ["white"]
    assert v.understood("lying in white", "dog") == ["lying", "white"]
