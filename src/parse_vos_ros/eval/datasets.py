"""Readers for the referring-VOS benchmark layouts users have on disk.

Every reader turns a dataset into a list of ``ExpressionItem`` (one referring expression on one
video) that the evaluation runner consumes the same way, whatever the layout:

- ``davis``: DAVIS-2016/2017 (``JPEGImages[/480p]/SEQ/*.jpg``, ``Annotations[/480p]/SEQ/*.png``)
  with expressions from a ``meta_expressions.json`` (Ref-YouTube-VOS / MeViS layout, as written
  for the DAVIS-2016 sequences in ``data/expressions`` and by ``parse-vos synth``) or from the
  Ref-DAVIS17 text files (``video obj_id "expression"`` per line). Ground truth is the union of
  the referred object ids; DAVIS-2016's 0/255 masks count as object 1.
- ``mevis``: ``SPLIT/JPEGImages/VIDEO/*.jpg``, ``SPLIT/meta_expressions.json`` and
  ``SPLIT/mask_dict.json`` (COCO RLE per annotation id and frame). Ground truth is the union
  of the expression's ``anno_id`` masks on all frames (the official valid_u convention).
- ``refytvos``: Ref-YouTube-VOS valid (``valid/JPEGImages/VIDEO/*.jpg`` and
  ``meta_expressions/valid/meta_expressions.json``); the ground truth is hidden, so items carry
  none and the runner writes submission PNGs instead.
- ``synth``: the output of ``parse-vos synth`` (the ``davis`` reader with its meta file).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from parse_vos_ros.eval import rle
from parse_vos_ros.eval.maskio import read_ids

DATASETS = ("davis", "mevis", "refytvos", "synth")


class DatasetError(ValueError):
    """The dataset layout or an expression file is not what the reader expects."""


@dataclass
class ExpressionItem:
    """One referring expression on one video.

    Attributes:
        dataset: reader name ("davis", "mevis", ...).
        video: video / sequence name.
        exp_id: expression id within the video.
        text: the referring sentence.
        image_paths: one RGB frame file per frame, in order.
        obj_ids: referred object (or annotation) ids; empty when the ground truth is hidden.
        meta: extra fields from the expression file (kind, variant, focus, annotator, ...).
        gt_loader: returns ``(T, H, W) bool`` ground truth for all frames (None: hidden).
        fps: frame rate the videos were captured at (streaming mode timestamps).
    """

    dataset: str
    video: str
    exp_id: str
    text: str
    image_paths: list[Path]
    obj_ids: tuple[int, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    gt_loader: Callable[[], np.ndarray] | None = None
    fps: float = 24.0

    @property
    def key(self) -> str:
        """``video/exp_id``, unique within a dataset."""
        return f"{self.video}/{self.exp_id}"

    @property
    def frame_names(self) -> list[str]:
        return [p.stem for p in self.image_paths]

    @property
    def has_gt(self) -> bool:
        return self.gt_loader is not None

    def frames(self) -> Iterator[np.ndarray]:
        """``(H, W, 3) uint8`` RGB frames, read lazily one by one."""
        for path in self.image_paths:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise DatasetError(f"{path}: unreadable frame")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def ground_truth(self) -> np.ndarray:
        """``(T, H, W) bool`` union mask of the referred objects on every frame."""
        if self.gt_loader is None:
            raise DatasetError(f"{self.dataset} {self.key}: ground truth is hidden for this split")
        return self.gt_loader()


def _load_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: invalid JSON ({exc})") from None


def _obj_ids(value: Any, where: str) -> tuple[int, ...]:
    """``1``, ``"1"``, ``[1, 2]`` or ``["1"]`` -> ``(1, ...)``."""
    values = value if isinstance(value, list | tuple) else [value]
    try:
        return tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: obj_id must be an integer or a list of integers, got {value!r}") from None


def _sub(root: Path, name: str, resolution: str) -> Path:
    """``root/name/resolution`` when it exists (DAVIS), else ``root/name`` (synth, YouTube-VOS)."""
    nested = root / name / resolution
    return nested if nested.is_dir() else root / name


def _frames(folder: Path, names: list[str] | None = None) -> list[Path]:
    if not folder.is_dir():
        raise DatasetError(f"{folder}: frame folder not found")
    if names is None:
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not paths:
            raise DatasetError(f"{folder}: no frames")
        return paths
    paths = []
    for name in names:
        matches = [folder / f"{name}{ext}" for ext in (".jpg", ".jpeg", ".png")]
        found = next((m for m in matches if m.is_file()), None)
        if found is None:
            raise DatasetError(f"{folder}: frame {name} listed in the expression file is missing")
        paths.append(found)
    return paths


def _davis_gt(ann_dir: Path, names: list[str], obj_ids: tuple[int, ...]) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        masks = []
        for name in names:
            ids = read_ids(ann_dir / f"{name}.png")
            if ids.max(initial=0) == 255 and set(np.unique(ids).tolist()) <= {0, 255}:
                ids = (ids > 0).astype(np.uint8)  # DAVIS-2016 single-object 0/255 masks are object 1
            masks.append(np.isin(ids, obj_ids))
        return np.stack(masks)

    return load


def read_meta_expressions(path: Path) -> dict[str, dict[str, Any]]:
    """``videos`` of a Ref-YouTube-VOS / MeViS ``meta_expressions.json``, validated."""
    data = _load_json(path)
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, dict):
        raise DatasetError(f"{path}: expected a top-level 'videos' mapping")
    for name, video in videos.items():
        expressions = video.get("expressions") if isinstance(video, dict) else None
        if not isinstance(expressions, dict):
            raise DatasetError(f"{path}: video {name!r} has no 'expressions' mapping")
        for exp_id, exp in expressions.items():
            if not isinstance(exp, dict) or not isinstance(exp.get("exp"), str) or not exp["exp"].strip():
                raise DatasetError(f"{path}: {name}/{exp_id} needs a non-empty 'exp' string")
    return videos


_REF_DAVIS_LINE = re.compile(r'^\s*(\S+)\s+(\d+)\s+"?(.*?)"?\s*$')


def read_ref_davis_txt(path: Path) -> dict[str, dict[str, Any]]:
    """Ref-DAVIS17 ``Davis17_annot{1,2}[_full_video].txt`` as a meta-expressions ``videos`` dict.

    Lines are ``video obj_id "expression"``; annotator 2's files are Latin-1, so bytes that are
    not UTF-8 are read as Latin-1.
    """
    raw = path.read_bytes() if path.is_file() else None
    if raw is None:
        raise DatasetError(f"{path}: file not found")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    annotator = "2" if "annot2" in path.name else "1"
    videos: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _REF_DAVIS_LINE.match(line)
        if match is None or not match.group(3).strip():
            raise DatasetError(f"{path}:{number}: expected 'video obj_id \"expression\"', got {line!r}")
        video, obj_id, sentence = match.groups()
        expressions = videos.setdefault(video, {"expressions": {}})["expressions"]
        expressions[str(len(expressions))] = {"exp": sentence, "obj_id": [int(obj_id)], "annotator": annotator}
    return videos


def read_davis(root: Path, expressions: Path, resolution: str = "480p", dataset: str = "davis") -> list[ExpressionItem]:
    """DAVIS-2016/2017 layout (also Ref-DAVIS17 and ``parse-vos synth`` output)."""
    image_root, ann_root = _sub(root, "JPEGImages", resolution), _sub(root, "Annotations", resolution)
    if not image_root.is_dir():
        raise DatasetError(f"{root}: no JPEGImages folder (expected the DAVIS layout)")
    videos = read_ref_davis_txt(expressions) if expressions.suffix == ".txt" else read_meta_expressions(expressions)
    items = []
    for video, entry in sorted(videos.items()):
        names = entry.get("frames")
        image_paths = _frames(image_root / video, list(names) if names else None)
        frame_names = [p.stem for p in image_paths]
        for exp_id, exp in entry["expressions"].items():
            obj_ids = _obj_ids(exp.get("obj_id", 1), f"{expressions}: {video}/{exp_id}")
            meta = {k: v for k, v in entry.items() if k not in ("expressions", "frames", "objects")}
            meta.update({k: v for k, v in exp.items() if k not in ("exp", "obj_id")})
            has_gt = (ann_root / video).is_dir()
            items.append(
                ExpressionItem(
                    dataset=dataset,
                    video=video,
                    exp_id=str(exp_id),
                    text=exp["exp"].strip(),
                    image_paths=image_paths,
                    obj_ids=obj_ids,
                    meta=meta,
                    gt_loader=_davis_gt(ann_root / video, frame_names, obj_ids) if has_gt else None,
                )
            )
    return items


def _mevis_gt(mask_dict_path: Path, anno_ids: tuple[int, ...], n_frames: int) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        masks = _mask_dict(mask_dict_path)
        gt: np.ndarray | None = None
        for anno_id in anno_ids:
            per_frame = masks.get(str(anno_id))
            if per_frame is None:
                raise DatasetError(f"{mask_dict_path}: no masks for anno_id {anno_id}")
            if len(per_frame) != n_frames:
                raise DatasetError(f"{mask_dict_path}: anno_id {anno_id} has {len(per_frame)} masks, {n_frames} frames")
            for t, item in enumerate(per_frame):
                if not item:
                    continue  # the object is absent on this frame
                mask = rle.decode(item)
                if gt is None:
                    gt = np.zeros((n_frames, *mask.shape), dtype=bool)
                gt[t] |= mask
        if gt is None:
            raise DatasetError(f"{mask_dict_path}: anno_ids {list(anno_ids)} are empty on every frame")
        return gt

    return load


_MASK_DICT_CACHE: dict[Path, dict[str, Any]] = {}


def _mask_dict(path: Path) -> dict[str, Any]:
    """The parsed ``mask_dict.json`` (hundreds of MB for MeViS: parsed once per process)."""
    if path not in _MASK_DICT_CACHE:
        _MASK_DICT_CACHE.clear()
        data = _load_json(path)
        if not isinstance(data, dict):
            raise DatasetError(f"{path}: expected a mapping anno_id -> per-frame RLE list")
        _MASK_DICT_CACHE[path] = data
    return _MASK_DICT_CACHE[path]


def read_mevis(root: Path, expressions: Path | None = None, split: str = "valid_u") -> list[ExpressionItem]:
    """MeViS layout; ``root`` is the dataset root (holding ``split/``) or the split folder itself."""
    split_root = root / split if (root / split).is_dir() else root
    meta_path = expressions or split_root / "meta_expressions.json"
    mask_dict = split_root / "mask_dict.json"
    videos = read_meta_expressions(meta_path)
    items = []
    for video, entry in sorted(videos.items()):
        image_paths = _frames(split_root / "JPEGImages" / video, entry.get("frames"))
        for exp_id, exp in entry["expressions"].items():
            where = f"{meta_path}: {video}/{exp_id}"
            anno_ids = _obj_ids(exp.get("anno_id", []), where) if "anno_id" in exp else ()
            gt = _mevis_gt(mask_dict, anno_ids, len(image_paths)) if anno_ids and mask_dict.is_file() else None
            meta = {"obj_id": list(_obj_ids(exp["obj_id"], where))} if "obj_id" in exp else {}
            meta["split"] = split
            items.append(
                ExpressionItem("mevis", video, str(exp_id), exp["exp"].strip(), image_paths, anno_ids, meta, gt, 30.0)
            )
    return items


def read_refytvos(root: Path, expressions: Path | None = None, split: str = "valid") -> list[ExpressionItem]:
    """Ref-YouTube-VOS; ground truth of the valid split is hidden (items have none)."""
    meta_path = expressions or root / "meta_expressions" / split / "meta_expressions.json"
    image_root = root / split / "JPEGImages"
    videos = read_meta_expressions(meta_path)
    items = []
    for video, entry in sorted(videos.items()):
        image_paths = _frames(image_root / video, entry.get("frames"))
        for exp_id, exp in entry["expressions"].items():
            item = ExpressionItem("refytvos", video, str(exp_id), exp["exp"].strip(), image_paths, fps=6.0)
            item.meta["split"] = split  # valid frames are every 5th of a 30 fps video
            items.append(item)
    return items


def default_expressions(name: str, root: str | os.PathLike[str]) -> Path:
    """Where a dataset keeps its expression file when ``--expressions`` is not given."""
    root = Path(root)
    if name == "mevis":
        return (root / "valid_u" if (root / "valid_u").is_dir() else root) / "meta_expressions.json"
    if name == "refytvos":
        return root / "meta_expressions" / "valid" / "meta_expressions.json"
    return root / "meta_expressions.json"


def load_dataset(
    name: str, root: str | os.PathLike[str], expressions: str | os.PathLike[str] | None
) -> list[ExpressionItem]:
    """The items of dataset ``name`` (one of ``DATASETS``) under ``root``."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root not found")
    exp_path = Path(expressions) if expressions else default_expressions(name, root)
    if name == "mevis":
        return read_mevis(root, exp_path)
    if name == "refytvos":
        return read_refytvos(root, exp_path)
    items = read_davis(root, exp_path, dataset=name)
    for item in items:
        item.fps = 24.0 if name == "davis" else 30.0  # DAVIS is captured at 24 fps, synth assumes 30
    return items


def convention(name: str) -> dict[str, str]:
    """Which split and scoring convention a dataset's numbers use (stated in every report)."""
    common = "DAVIS J&F: J = IoU (empty union = 1), F = boundary F (tolerance ceil(0.008 x diagonal))"
    if name == "mevis":
        return {
            "split": "valid_u",
            "scoring": f"{common}; GT = union of the expression's anno_id masks on all "
            "frames; J and F averaged over frames per expression, then over expressions",
        }
    if name == "refytvos":
        return {"split": "valid", "scoring": "ground truth hidden: submission PNGs written, no local score"}
    what = "synthetic scenes" if name == "synth" else "DAVIS sequences"
    return {
        "split": "as given by the expression file",
        "scoring": f"{common}; {what}; GT = union of the referred "
        "object ids on every frame (all frames, first and last included); J and F averaged over frames per "
        "expression, then over expressions; per-sequence = mean of its expressions",
    }
