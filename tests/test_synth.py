"""Synthetic scenes: deterministic, masks consistent with the sentences, DAVIS layout on disk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from parse_vos_ros.cli import main
from parse_vos_ros.eval.maskio import read_ids
from parse_vos_ros.synth import KIND_OF_VARIANT, OCCLUDER_ID, VARIANTS, generate, make_spec

SIZE = (160, 120)
FRAMES = 12


def centroid_x(ids: np.ndarray, obj_id: int) -> np.ndarray:
    """Per-frame mask centroid x (NaN where invisible)."""
    xs = np.arange(ids.shape[2])
    out = []
    for frame in ids:
        cols = (frame == obj_id).sum(axis=0)
        out.append(np.nan if cols.sum() == 0 else float((cols * xs).sum() / cols.sum()))
    return np.array(out)


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(folder).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_every_variant_is_generated_in_order() -> None:
    specs = [make_spec(0, i, FRAMES, SIZE) for i in range(len(VARIANTS))]
    assert [s.variant for s in specs] == list(VARIANTS)
    assert {s.kind for s in specs} == {"motion_only", "appearance", "multi_target"}
    assert all(s.kind == KIND_OF_VARIANT[s.variant] for s in specs)
    assert {s.camera for s in (make_spec(0, i, FRAMES, SIZE) for i in range(18))} == {"static", "pan", "zoom"}


def test_same_arguments_same_pixels_and_other_seed_differs() -> None:
    a, b = generate(3, 1, FRAMES, SIZE), generate(3, 1, FRAMES, SIZE)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.ids, b.ids)
    c = generate(4, 1, FRAMES, SIZE)
    assert not np.array_equal(a.images, c.images)
    assert a.images.shape == (FRAMES, SIZE[1], SIZE[0], 3) and a.images.dtype == np.uint8


@pytest.mark.parametrize("seed", [0, 1])
def test_direction_scene_masks_follow_the_sentences(seed: int) -> None:
    scene = generate(seed, VARIANTS.index("direction"), FRAMES, SIZE)
    left = next(e for e in scene.spec.expressions if "left" in e.text)
    right = next(e for e in scene.spec.expressions if "right" in e.text)
    # Look-alikes: the same shape and colour, only their motion tells them apart.
    objs = {o.obj_id: o for o in scene.spec.objects}
    a, b = objs[left.obj_ids[0]], objs[right.obj_ids[0]]
    assert (a.shape, a.colour) == (b.shape, b.colour)
    xa, xb = centroid_x(scene.ids, a.obj_id), centroid_x(scene.ids, b.obj_id)
    if scene.spec.camera == "static":
        assert np.nanmean(np.diff(xa)) < -1 and np.nanmean(np.diff(xb)) > 1
    # Camera motion removed (world coordinates), the directions always hold.
    assert a.velocity[0] < 0 < b.velocity[0]


def test_depth_scene_scales() -> None:
    scene = generate(0, VARIANTS.index("depth"), FRAMES, SIZE)
    toward = next(e for e in scene.spec.expressions if "toward" in e.text).obj_ids[0]
    away = next(e for e in scene.spec.expressions if "away" in e.text).obj_ids[0]
    area = lambda i: (scene.ids == i).sum(axis=(1, 2))  # noqa: E731
    assert area(toward)[-1] > 1.5 * area(toward)[0]
    assert area(away)[-1] < 0.8 * area(away)[0]


def test_still_object_does_not_move_under_a_static_camera() -> None:
    for index in range(VARIANTS.index("still"), 60, len(VARIANTS)):
        spec = make_spec(0, index, FRAMES, SIZE)
        if spec.camera == "static":
            break
    scene = generate(0, index, FRAMES, SIZE)
    still = next(e for e in scene.spec.expressions if "still" in e.text).obj_ids[0]
    x = centroid_x(scene.ids, still)
    assert np.nanmax(x) - np.nanmin(x) < 3.0  # only the slight vertical drift and the occluder move it


def test_every_expression_refers_to_visible_objects_and_colours_match() -> None:
    for index in range(12):
        scene = generate(5, index, FRAMES, SIZE)
        for expression in scene.spec.expressions:
            union = np.isin(scene.ids, expression.obj_ids)
            assert union.any(axis=(1, 2)).sum() >= FRAMES // 2, expression.text
        # Every object but the last (the unnamed distractor) is named by its colour in some sentence.
        sentences = " ".join(e.text for e in scene.spec.expressions)
        assert all(o.colour in sentences for o in scene.spec.objects[:-1])
        assert scene.spec.objects[-1].obj_id not in {i for e in scene.spec.expressions for i in e.obj_ids}


def test_occluder_hides_the_target_midway() -> None:
    for index in range(40):
        spec = make_spec(2, index, FRAMES, SIZE)
        if spec.occluder_x is not None and spec.camera == "static":
            break
    scene = generate(2, index, FRAMES, SIZE)
    assert (scene.ids == OCCLUDER_ID).any()
    target = scene.spec.objects[0].obj_id
    areas = (scene.ids == target).sum(axis=(1, 2))
    assert areas[FRAMES // 2] < 0.8 * areas[0]


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="at least 4 frames"):
        generate(0, 0, 2, SIZE)
    with pytest.raises(ValueError, match="64x64"):
        generate(0, 0, FRAMES, (32, 32))


def test_synth_command_writes_a_deterministic_davis_layout(tmp_path: Path, capsys) -> None:
    args = ["synth", "--seed", "7", "--scenes", "3", "--frames", "6", "--size", "96x80"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert "wrote 3 scenes, 6 expressions" in capsys.readouterr().out
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    meta = json.loads((tmp_path / "a" / "meta_expressions.json").read_text())
    assert meta["generator"]["seed"] == 7 and len(meta["videos"]) == 3
    for name, video in meta["videos"].items():
        assert video["frames"] == [f"{t:05d}" for t in range(6)]
        assert video["kind"] in ("motion_only", "appearance", "multi_target")
        jpgs = sorted((tmp_path / "a" / "JPEGImages" / name).glob("*.jpg"))
        pngs = sorted((tmp_path / "a" / "Annotations" / name).glob("*.png"))
        assert [p.stem for p in jpgs] == [p.stem for p in pngs] == video["frames"]
        ids = read_ids(pngs[0])
        assert ids.shape == (80, 96)
        for expression in video["expressions"].values():
            assert set(expression["obj_id"]) <= {int(k) for k in video["objects"]}


def test_synth_command_rejects_a_bad_size(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["synth", "--out", str(tmp_path), "--size", "big"])
    assert info.value.code == 2
