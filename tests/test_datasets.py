"""Dataset readers on small fixtures built here in each benchmark's layout, plus the RLE codec."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO, shared_path
from hypothesis import given, settings
from hypothesis import strategies as st

from parse_vos_ros.eval import rle
from parse_vos_ros.eval.datasets import DatasetError, convention, load_dataset, read_ref_davis_txt
from parse_vos_ros.eval.maskio import write_ids, write_mask

H, W = 24, 32


def write_frames(folder: Path, n: int, ext: str = ".jpg") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        image = np.full((H, W, 3), 40 * t, dtype=np.uint8)
        image[..., 2] = 200  # red in BGR, so RGB conversion is checked below
        cv2.imwrite(str(folder / f"{t:05d}{ext}"), image)


def box(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[r0:r1, c0:c1] = True
    return mask


def write_json(path: Path, obj: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


# --- RLE -----------------------------------------------------------------------------------


def test_rle_hand_derived_strings() -> None:
    # 4x4 with a 2x2 block at rows 1-2, cols 1-2; column-major runs [5, 2, 2, 2, 5];
    # counts from the 4th on are stored as differences to two before: 5 2 2 0 3 -> "52203".
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3, 1:3] = True
    assert rle.encode(mask) == {"size": [4, 4], "counts": "52203"}
    assert np.array_equal(rle.decode({"size": [4, 4], "counts": "52203"}), mask)
    # A negative difference: runs [1, 10, 1, 2] -> 1, 10 (':'), 1, 2-10 = -8 -> 24 | sign = 'H'.
    assert rle.counts_to_string([1, 10, 1, 2]) == "1:1H"
    assert rle.counts_from_string("1:1H") == [1, 10, 1, 2]
    # Uncompressed list counts are accepted too; a mask starting with foreground starts with 0.
    full = rle.decode({"size": [2, 3], "counts": [0, 6]})
    assert full.all() and full.shape == (2, 3)
    assert rle.encode(full)["counts"] == rle.counts_to_string([0, 6])


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), h=st.integers(1, 40), w=st.integers(1, 40), p=st.floats(0, 1))
def test_rle_round_trip(seed: int, h: int, w: int, p: float) -> None:
    mask = np.random.default_rng(seed).random((h, w)) < p
    assert np.array_equal(rle.decode(rle.encode(mask)), mask)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"size": [2, 2], "counts": "5"}, "cover 5 pixels"),
        ({"size": [2, 2]}, "needs 'size'"),
        ({"size": [2, 2], "counts": "\x7f"}, "invalid character"),
        ({"size": [2, 2], "counts": "R"}, "truncated"),  # continuation bit set on the last byte
    ],
)
def test_rle_errors(obj: dict, message: str) -> None:
    with pytest.raises(rle.RLEError, match=message):
        rle.decode(obj)


# --- DAVIS-2016 (0/255 masks) with meta_expressions.json ---------------------------------


def test_davis2016_layout(tmp_path: Path) -> None:
    root = tmp_path / "davis2016"
    write_frames(root / "JPEGImages" / "480p" / "seq", 3)
    for t in range(3):
        write_mask(root / "Annotations" / "480p" / "seq" / f"{t:05d}.png", box(2, 10, 3 + t, 12 + t))
    meta = write_json(
        tmp_path / "meta.json",
        {
            "videos": {
                "seq": {
                    "expressions": {
                        "0": {"exp": " a dog ", "obj_id": [1], "focus": "appearance"},
                        "1": {"exp": "the running dog", "obj_id": "1"},
                    }
                }
            }
        },
    )
    items = load_dataset("davis", root, meta)
    assert [i.key for i in items] == ["seq/0", "seq/1"]
    item = items[0]
    assert item.text == "a dog" and item.obj_ids == (1,) and item.meta["focus"] == "appearance"
    assert item.frame_names == ["00000", "00001", "00002"] and item.fps == 24.0
    frames = list(item.frames())
    assert frames[0].shape == (H, W, 3) and frames[1][0, 0].tolist() == [200, 40, 40]  # RGB
    gt = item.ground_truth()
    assert gt.shape == (3, H, W) and gt.dtype == bool
    assert np.array_equal(gt[2], box(2, 10, 5, 14))
    assert "all frames" in convention("davis")["scoring"]


# --- DAVIS-2017 palette masks with Ref-DAVIS17 text expressions --------------------------


def test_ref_davis17_text_and_palette_ground_truth(tmp_path: Path) -> None:
    root = tmp_path / "DAVIS"
    write_frames(root / "JPEGImages" / "480p" / "bike", 2)
    for t in range(2):
        ids = np.zeros((H, W), dtype=np.uint8)
        ids[box(0, 8, 0, 8)] = 1
        ids[box(10, 20, 10 + t, 20 + t)] = 2
        write_ids(root / "Annotations" / "480p" / "bike" / f"{t:05d}.png", ids)
    txt = tmp_path / "davis_text_annotations" / "Davis17_annot2.txt"
    txt.parent.mkdir()
    # Annotator 2's file is Latin-1 encoded.
    txt.write_bytes('bike 1 "a man on a bike"\n\nbike 2 "the caf\xe9 sign moving right"\n'.encode("latin-1"))
    items = load_dataset("davis", root, txt)
    assert [(i.exp_id, i.obj_ids, i.text) for i in items] == [
        ("0", (1,), "a man on a bike"),
        ("1", (2,), "the café sign moving right"),
    ]
    assert items[0].meta["annotator"] == "2"
    gt = items[1].ground_truth()
    assert np.array_equal(gt[1], box(10, 20, 11, 21))
    assert not (gt & box(0, 8, 0, 8)).any()


def test_ref_davis_bad_line_names_the_line(tmp_path: Path) -> None:
    txt = tmp_path / "Davis17_annot1.txt"
    txt.write_text('bike 1 "ok"\nthis is not valid\n')
    with pytest.raises(DatasetError, match=r"Davis17_annot1.txt:2"):
        read_ref_davis_txt(txt)


# --- MeViS (meta_expressions.json + mask_dict.json RLE, valid_u) -------------------------


def test_mevis_union_of_anno_ids_on_all_frames(tmp_path: Path) -> None:
    split = tmp_path / "mevis" / "valid_u"
    write_frames(split / "JPEGImages" / "vid1", 3)
    a = [box(0, 5, 0, 5), None, box(1, 6, 1, 6)]  # object absent on frame 1
    b = [box(10, 20, 10, 20), box(11, 21, 10, 20), box(12, 22, 10, 20)]
    mask_dict = {
        "7": [rle.encode(m) if m is not None else None for m in a],
        "8": [{"size": [H, W], "counts": json.loads(json.dumps(_list_counts(m)))} for m in b],
    }
    write_json(split / "mask_dict.json", mask_dict)
    write_json(
        split / "meta_expressions.json",
        {
            "videos": {
                "vid1": {
                    "vid_id": 1,
                    "frames": ["00000", "00001", "00002"],
                    "expressions": {
                        "0": {"exp": "two things", "obj_id": [0, 1], "anno_id": [7, 8]},
                        "1": {"exp": "the first thing", "obj_id": [0], "anno_id": [7]},
                    },
                }
            }
        },
    )
    items = load_dataset("mevis", tmp_path / "mevis", None)
    assert [i.key for i in items] == ["vid1/0", "vid1/1"]
    both, first = items[0].ground_truth(), items[1].ground_truth()
    assert both.shape == (3, H, W)
    assert np.array_equal(both[1], b[1]) and np.array_equal(both[2], a[2] | b[2])
    assert not first[1].any() and np.array_equal(first[0], a[0])
    assert items[0].meta == {"obj_id": [0, 1], "split": "valid_u"}
    assert "valid_u" in convention("mevis")["split"]


def _list_counts(mask: np.ndarray) -> list[int]:
    return rle.counts_from_string(rle.encode(mask)["counts"])


def test_mevis_wrong_frame_count_is_reported(tmp_path: Path) -> None:
    split = tmp_path / "valid_u"
    write_frames(split / "JPEGImages" / "v", 2)
    write_json(split / "mask_dict.json", {"1": [None]})
    write_json(split / "meta_expressions.json", {"videos": {"v": {"expressions": {"0": {"exp": "x", "anno_id": [1]}}}}})
    (item,) = load_dataset("mevis", split, None)
    with pytest.raises(DatasetError, match="has 1 masks, 2 frames"):
        item.ground_truth()


# --- Ref-YouTube-VOS valid (ground truth hidden) -----------------------------------------


def test_refytvos_valid_has_no_ground_truth(tmp_path: Path) -> None:
    write_frames(tmp_path / "valid" / "JPEGImages" / "abc", 3)
    write_json(
        tmp_path / "meta_expressions" / "valid" / "meta_expressions.json",
        {"videos": {"abc": {"frames": ["00000", "00002"], "expressions": {"0": {"exp": "a cat"}}}}},
    )
    (item,) = load_dataset("refytvos", tmp_path, None)
    assert item.frame_names == ["00000", "00002"] and not item.has_gt
    with pytest.raises(DatasetError, match="hidden"):
        item.ground_truth()


# --- errors ---------------------------------------------------------------------------------


def test_layout_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="dataset root not found"):
        load_dataset("davis", tmp_path / "nope", None)
    with pytest.raises(DatasetError, match="no JPEGImages"):
        load_dataset("davis", tmp_path, None)
    write_frames(tmp_path / "JPEGImages" / "s", 1)
    bad = write_json(tmp_path / "m.json", {"videos": {"s": {"expressions": {"0": {"exp": ""}}}}})
    with pytest.raises(DatasetError, match="non-empty 'exp'"):
        load_dataset("davis", tmp_path, bad)
    missing = write_json(tmp_path / "m2.json", {"videos": {"s": {"frames": ["9"], "expressions": {"0": {"exp": "a"}}}}})
    with pytest.raises(DatasetError, match="frame 9 listed in the expression file is missing"):
        load_dataset("davis", tmp_path, missing)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("kitti", tmp_path, None)


# --- the repository's DAVIS-2016 expressions on the shared frames -------------------------

EXPRESSIONS = REPO / "data" / "expressions" / "davis2016_meta_expressions.json"


def test_davis2016_expression_file_is_complete() -> None:
    videos = json.loads(EXPRESSIONS.read_text())["videos"]
    assert len(videos) == 10
    for name, video in videos.items():
        focuses = {e["focus"] for e in video["expressions"].values()}
        assert len(video["expressions"]) >= 2 and {"appearance", "motion"} <= focuses, name


@pytest.mark.shared_data
def test_davis2016_expressions_load_on_shared_data() -> None:
    root = shared_path("data", "davis2016")
    items = load_dataset("davis", root, EXPRESSIONS)
    assert len({i.video for i in items}) == 10
    item = next(i for i in items if i.video == "blackswan")
    assert len(item.image_paths) == 50
    gt = item.ground_truth()
    assert gt.shape == (50, 480, 854) and gt.any(axis=(1, 2)).all()
