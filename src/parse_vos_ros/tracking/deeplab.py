"""DeepLabV3 target masks from a box: the keyframe re-anchoring of a propagated mask.

The vendored DeepLabV3 + MobileNetV2 models (PASCAL VOC, 21 labels; ``data/models/coral``, see its
PROVENANCE.md) take ``uint8 [1, 513, 513, 3]`` raw RGB and return ``int64 [1, 513, 513]`` label ids.
``DeepLabMasker.segment`` cuts the box (grown by ``CROP_GROWTH_TOTAL``) out of the image, fits it into
the 513 x 513 input keeping its aspect ratio (the rest is padded grey), and calls every
non-background label inside the crop the object: PASCAL's 20 classes are broad (person, the
animals, the vehicles), and inside a box around one object its label is the one present. The
crop's labels are pasted back into a full-size mask (``label_map`` keeps which label each pixel
got, so a caller can tell whether the object is of the class it was told to find). Where the model
finds (almost) nothing, the answer is None and the caller keeps the mask it had.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from parse_vos_ros.backends import BackendLoadError
from parse_vos_ros.geometry import downscale_mask
from parse_vos_ros.models import require_vendored, vendored_path

LOG = logging.getLogger(__name__)

MODEL_FOLDER = "coral"  # the models' folder under the vendored data/models
MODELS: dict[str, str] = {
    "dm05": "deeplabv3_mnv2_dm05_pascal_quant.tflite",  # half-width backbone: ~2x faster, slightly worse
    "full": "deeplabv3_mnv2_pascal_quant.tflite",
}
LABELS_FILE = "pascal_voc_segmentation_labels.txt"
INPUT_SIDE = 513  # the models' fixed square input, pixels
BACKGROUND = 0  # PASCAL VOC label id of the background
PAD_VALUE = 128  # grey padding around a non-square crop (the models were trained on mean-padded crops)
CROP_GROWTH_TOTAL = 0.1  # the crop is the box grown by this fraction of its width / height in all (half on each side)
MIN_BOX_FRACTION = 0.03  # a result covering less than this fraction of the box counts as nothing found
MIN_CROP_PX = 4  # boxes narrower or lower than this many pixels are not segmented
# The PASCAL VOC names of the COCO classes that PASCAL spells differently (the other 14 match).
PASCAL_OF_COCO = {
    "airplane": "aeroplane", "dining table": "diningtable", "motorcycle": "motorbike",
    "potted plant": "pottedplant", "couch": "sofa", "tv": "tvmonitor",
}
# PASCAL VOC's own superclasses of animals and vehicles: the model confuses their members with
# each other (a golden dog partly "sheep", a van "car" or "bus") far more than across them.
PASCAL_KINDS = (
    frozenset({"bird", "cat", "cow", "dog", "horse", "sheep"}),
    frozenset({"aeroplane", "bicycle", "boat", "bus", "car", "motorbike", "train"}),
)


class DeepLabLoadError(RuntimeError):
    """The DeepLab model file is missing, unreadable or not the expected model; says how to fix it."""


def model_path(model: str) -> Path:
    """The vendored ``.tflite`` file of ``model`` ("dm05" or "full")."""
    if model not in MODELS:
        raise ValueError(f"unknown DeepLab model {model!r} (known: {', '.join(MODELS)})")
    return vendored_path(f"{MODEL_FOLDER}/{MODELS[model]}")


def crop_box(box: np.ndarray, width: int, height: int, margin: float = CROP_GROWTH_TOTAL) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` integer crop: ``box`` grown by ``margin``, clipped to a ``width`` x ``height`` image."""
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    gx, gy = 0.5 * margin * (x1 - x0), 0.5 * margin * (y1 - y0)
    return (
        max(0, int(np.floor(x0 - gx))),
        max(0, int(np.floor(y0 - gy))),
        min(width, int(np.ceil(x1 + gx))),
        min(height, int(np.ceil(y1 + gy))),
    )


def letterbox(crop: np.ndarray, side: int = INPUT_SIDE) -> tuple[np.ndarray, tuple[int, int]]:
    """Fit an ``(h, w, 3) uint8`` crop into ``(side, side, 3)``, aspect kept, padded bottom/right.

    Returns the padded image and the ``(w, h)`` size the crop occupies in it (top-left corner).
    """
    h, w = crop.shape[:2]
    scale = side / max(h, w)
    fit = (max(1, min(side, round(w * scale))), max(1, min(side, round(h * scale))))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = np.full((side, side, 3), PAD_VALUE, np.uint8)
    out[: fit[1], : fit[0]] = cv2.resize(crop, fit, interpolation=interpolation)
    return out, fit


class DeepLabMasker:
    """Object mask of a box by DeepLabV3 on the box's crop (see the module docstring).

    Args:
        path: the ``.tflite`` model file.
        threads: CPU threads of the TFLite interpreter.

    Raises:
        DeepLabLoadError: the file is missing, the runtime is not installed, or the model's input
            or output is not DeepLab's.
    """

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.path = Path(path)
        fix = "reinstall parse_vos_ros (the file is package data) or run `parse-vos models verify`"
        if not self.path.is_file():
            raise DeepLabLoadError(f"DeepLab model not found: {self.path}; {fix}")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise DeepLabLoadError(
                f"the TFLite runtime is missing ({exc}); install ai-edge-litert (`pip install ai-edge-litert`)"
            ) from None
        try:
            self._interpreter: Any = Interpreter(model_path=str(self.path), num_threads=threads)
            self._interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise DeepLabLoadError(f"DeepLab model {self.path} cannot be loaded ({exc}); {fix}") from None
        inp = self._interpreter.get_input_details()[0]
        out = self._interpreter.get_output_details()[0]
        if tuple(inp["shape"]) != (1, INPUT_SIDE, INPUT_SIDE, 3) or inp["dtype"] != np.uint8:
            raise DeepLabLoadError(f"{self.path}: input {inp['shape']} {inp['dtype']}, expected uint8 [1,513,513,3]")
        if tuple(out["shape"][1:3]) != (INPUT_SIDE, INPUT_SIDE):
            raise DeepLabLoadError(f"{self.path}: output {out['shape']}, expected [1,513,513] label ids")
        self._input_index = int(inp["index"])
        self._output_index = int(out["index"])
        self.labels = self._read_labels()

    @classmethod
    def named(cls, model: Literal["dm05", "full"] | str = "dm05", threads: int = 1) -> DeepLabMasker:
        """The vendored model ``model`` ("dm05": half width, "full"), checked against its size and
        SHA-256 first (``models.require_vendored``)."""
        path = model_path(model)
        try:
            require_vendored(path, "tracking.keyframe_mask_model")
        except BackendLoadError as exc:
            raise DeepLabLoadError(str(exc)) from None
        return cls(path, threads)

    def _read_labels(self) -> tuple[str, ...]:
        path = self.path.parent / LABELS_FILE
        if not path.is_file():
            return ()
        lines = path.read_text(encoding="utf-8").splitlines()
        # The file lists the 21 class names first; free text follows after a blank line.
        names = []
        for line in lines:
            if not line.strip():
                break
            names.append(line.strip())
        return tuple(names)

    def labels_of(self, crop: np.ndarray) -> np.ndarray:
        """``(h, w) int`` PASCAL VOC label ids of an ``(h, w, 3) uint8`` RGB crop."""
        padded, (fw, fh) = letterbox(crop)
        self._interpreter.set_tensor(self._input_index, padded[None])
        self._interpreter.invoke()
        labels = self._interpreter.get_tensor(self._output_index)[0, :fh, :fw]
        h, w = crop.shape[:2]
        return cv2.resize(labels.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)

    def label_ids(self, names: Iterable[str]) -> frozenset[int]:
        """The PASCAL VOC label ids of class ``names`` in COCO's spelling ("airplane", "tv", ...) or
        PASCAL's own, with the other members of their kind (``PASCAL_KINDS``); names the model
        does not know are skipped."""
        ids = {name: i for i, name in enumerate(self.labels) if i != BACKGROUND}
        known = {PASCAL_OF_COCO.get(n, n) for n in names} & ids.keys()
        for kind in PASCAL_KINDS:
            if known & kind:
                known |= kind
        return frozenset(ids[n] for n in known)

    def segment(
        self, image: np.ndarray, box: np.ndarray, out_size: tuple[int, int] | None = None
    ) -> np.ndarray | None:
        """Mask of the object in ``box`` on ``image``, or None when DeepLab finds nothing there.

        ``label_map`` reduced to object / not object; same arguments and errors.

        Returns:
            ``(h, w) bool`` at ``out_size``, True on every non-background pixel inside the crop.
        """
        labels = self.label_map(image, box, out_size)
        return None if labels is None else labels != BACKGROUND

    def label_map(
        self, image: np.ndarray, box: np.ndarray, out_size: tuple[int, int] | None = None
    ) -> np.ndarray | None:
        """PASCAL VOC labels of the crop around ``box`` on ``image``, or None when DeepLab finds nothing there.

        Args:
            image: ``(H, W, 3) uint8`` RGB.
            box: ``(4,)`` xyxy in ``image`` pixels.
            out_size: ``(w, h)`` of the returned map (the same scene at another resolution,
                e.g. the engine's working width); None = ``image``'s own size.

        Returns:
            ``(h, w) uint8`` at ``out_size``: the label id of every pixel inside the crop,
            ``BACKGROUND`` elsewhere; None when the non-background labels cover less than
            ``MIN_BOX_FRACTION`` of the box.

        Raises:
            ValueError: ``image`` is not ``(H, W, 3) uint8`` or ``box`` is not finite.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"DeepLabMasker expects (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        box = np.asarray(box, dtype=np.float64).reshape(4)
        if not np.all(np.isfinite(box)):
            raise ValueError(f"invalid box {box!r}: need finite xyxy")
        height, width = image.shape[:2]
        x0, y0, x1, y1 = crop_box(box, width, height)
        if x1 - x0 < MIN_CROP_PX or y1 - y0 < MIN_CROP_PX:
            return None
        labels = self.labels_of(np.ascontiguousarray(image[y0:y1, x0:x1]))
        box_area = max(1.0, float((box[2] - box[0]) * (box[3] - box[1])))
        if np.count_nonzero(labels != BACKGROUND) < MIN_BOX_FRACTION * box_area:
            return None
        out_w, out_h = out_size or (width, height)
        if (out_w, out_h) == (width, height):
            full = np.full((height, width), BACKGROUND, np.uint8)
            full[y0:y1, x0:x1] = labels
            return full
        return _paste_scaled(labels, (x0, y0, x1, y1), (width, height), (out_w, out_h))


def _paste_scaled(
    labels: np.ndarray, crop: tuple[int, int, int, int], size: tuple[int, int], out_size: tuple[int, int]
) -> np.ndarray | None:
    """The crop's ``(h, w) uint8`` labels placed into an ``out_size`` (w, h) frame of the ``size``
    image: a pixel is object where at least half its area was (``downscale_mask``), with the
    label nearest to its centre (a non-background one where the nearest is background)."""
    sx, sy = out_size[0] / size[0], out_size[1] / size[1]
    x0, y0, x1, y1 = crop
    ox0, oy0 = round(x0 * sx), round(y0 * sy)
    ox1, oy1 = min(out_size[0], round(x1 * sx)), min(out_size[1], round(y1 * sy))
    if ox1 <= ox0 or oy1 <= oy0:
        return None
    fit = (ox1 - ox0, oy1 - oy0)
    inside = downscale_mask(labels != BACKGROUND, fit)
    if not inside.any():
        return None
    nearest = cv2.resize(labels, fit, interpolation=cv2.INTER_NEAREST)
    # Where the nearest sample is background but most of the area is object, any object label
    # present in the crop stands in (the most frequent one): the union stays downscale_mask's.
    fill = np.bincount(labels[labels != BACKGROUND], minlength=1).argmax()
    out = np.full((out_size[1], out_size[0]), BACKGROUND, np.uint8)
    out[oy0:oy1, ox0:ox1] = np.where(inside, np.where(nearest != BACKGROUND, nearest, fill), BACKGROUND)
    return out
