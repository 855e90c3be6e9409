"""YOLOX-Nano (COCO, 80 classes) on ONNX Runtime: letterbox, inference, exact decoding, per-class NMS.

The contract of the vendored export (``data/models/yolox-nano/PROVENANCE.md``):
- input ``images``: float32 ``(1, 3, 416, 416)``, BGR, raw 0-255 (no mean/std), the image scaled
  to fit with its aspect kept, placed at the top-left, the rest padded with 114;
- output: float32 ``(1, 3549, 85)`` *undecoded*: per anchor point ``[x, y, w, h, objectness,
  80 class scores]`` over the grids of strides 8, 16 and 32 (52x52 + 26x26 + 13x13 points, each
  row-major), ``xy = (raw_xy + grid_xy) * stride``, ``wh = exp(raw_wh) * stride`` in letterboxed
  pixels; score = objectness x class score; then non-maximum suppression per class.

``decode`` is a pure numpy function (tested on hand-built raw outputs); ``YoloxDetector`` owns the
ONNX Runtime session. onnxruntime is imported only when a session is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from parse_vos_ros.geometry import nms

INPUT_SIZE = 416  # square network input, pixels
STRIDES = (8, 16, 32)  # output grids, finest first (the order of the 3549 rows)
PAD_VALUE = 114  # letterbox padding (the value YOLOX was trained with)
NUM_CLASSES = 80
ROW = 5 + NUM_CLASSES  # x, y, w, h, objectness, class scores

# The 80 COCO classes in the standard (detector output) order.
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip


def coco_indices(names: tuple[str, ...]) -> frozenset[int]:
    """The indices in ``COCO_CLASSES`` of class ``names``; raises ``ValueError`` naming an unknown one."""
    unknown = [n for n in names if n not in COCO_CLASSES]
    if unknown:
        raise ValueError(f"unknown COCO classes {unknown} (known: {', '.join(COCO_CLASSES)})")
    return frozenset(COCO_CLASSES.index(n) for n in names)


@dataclass(frozen=True)
class Boxes:
    """Decoded detections of one image.

    Attributes:
        boxes: ``(N, 4) float64`` xyxy in pixels of the original image.
        scores: ``(N,) float64`` objectness x class score in [0, 1].
        classes: ``(N,) int64`` COCO class indices (into ``COCO_CLASSES``).
        objectness: ``(N,) float64`` the anchor's objectness in [0, 1]: how surely it is an object
            of any kind, which holds better than the class score for things of no COCO class.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    objectness: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def take(self, keep: np.ndarray) -> Boxes:
        """The subset at indices (or boolean mask) ``keep``."""
        return Boxes(self.boxes[keep], self.scores[keep], self.classes[keep], self.objectness[keep])


def letterbox(image: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, float]:
    """``(H, W, 3) uint8`` RGB -> the network input ``(1, 3, size, size) float32`` BGR 0-255 and the scale.

    The image is resized by ``scale = min(size / H, size / W)`` (aspect kept) and placed at the
    top-left of a ``size x size`` canvas filled with ``PAD_VALUE``; a box in network pixels maps
    back to the image by dividing by ``scale``.
    """
    h, w = image.shape[:2]
    scale = min(size / h, size / w)
    nh, nw = min(size, round(h * scale)), min(size, round(w * scale))
    canvas = np.full((size, size, 3), PAD_VALUE, np.uint8)
    canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)[:, :, ::-1]  # RGB -> BGR
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32), scale


def grids(size: int = INPUT_SIZE, strides: tuple[int, ...] = STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """Anchor points in output order: ``(P, 2) float64`` grid cells (x, y) and ``(P,) float64`` strides."""
    cells, steps = [], []
    for stride in strides:
        n = size // stride
        ys, xs = np.mgrid[0:n, 0:n]  # row-major: x varies fastest
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        steps.append(np.full(n * n, stride))
    return np.concatenate(cells).astype(np.float64), np.concatenate(steps).astype(np.float64)


def decode(
    raw: np.ndarray,
    scale: float,
    image_size: tuple[int, int],
    score_threshold: float,
    nms_iou: float,
    size: int = INPUT_SIZE,
    withheld: tuple[int, ...] = (),
    objectness_threshold: float | None = None,
) -> Boxes:
    """Raw network output -> boxes in original image pixels, after per-class NMS, best first.

    Args:
        raw: ``(1, P, 85)`` or ``(P, 85)`` float, P = sum of (size / stride)^2 over ``STRIDES``.
        scale: the letterbox scale (network pixels per image pixel).
        image_size: ``(W, H)`` of the original image; boxes are clipped to it.
        score_threshold: keep anchors whose objectness x best class score is at least this.
        nms_iou: within a class, drop a box overlapping a better one above this IoU.
        size: network input side.
        withheld: class indices whose scores count as 0, as if the network had never learned them
            (an anchor on such an object gives its next best class, with that class's score).
        objectness_threshold: also keep anchors whose objectness alone is at least this (None: only
            ``score_threshold`` decides); such a box has its best class and a score below the threshold.

    Each anchor contributes at most one box, of its best class (as the YOLOX demo postprocess).
    """
    rows = np.asarray(raw, np.float64).reshape(-1, ROW)
    if withheld:
        rows = rows.copy()
        rows[:, 5 + np.asarray(withheld, np.int64)] = 0.0
    cells, steps = grids(size)
    if rows.shape[0] != cells.shape[0]:
        raise ValueError(f"YOLOX output has {rows.shape[0]} rows, the {size}px grids need {cells.shape[0]}")
    cls = np.argmax(rows[:, 5:], axis=1)
    scores = rows[:, 4] * rows[np.arange(rows.shape[0]), 5 + cls]
    passed = scores >= score_threshold
    if objectness_threshold is not None:
        passed |= rows[:, 4] >= objectness_threshold
    keep = np.flatnonzero(passed)
    if keep.size == 0:
        return Boxes(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
    r, g, s = rows[keep], cells[keep], steps[keep, None]
    centre = (r[:, 0:2] + g) * s
    half = np.exp(np.clip(r[:, 2:4], None, np.log(size))) * s / 2.0  # clip: a wild raw value cannot overflow
    xyxy = np.concatenate([centre - half, centre + half], axis=1) / scale
    w, h = image_size
    xyxy = np.clip(xyxy, 0.0, [w, h, w, h])
    found = Boxes(xyxy, scores[keep], cls[keep].astype(np.int64), r[:, 4].copy())
    kept: list[np.ndarray] = []
    for c in np.unique(found.classes):
        idx = np.flatnonzero(found.classes == c)
        kept.append(idx[nms(found.boxes[idx], found.scores[idx], nms_iou)])
    order = np.concatenate(kept)
    order = order[np.argsort(-found.scores[order], kind="stable")]
    return found.take(order)


class YoloxDetector:
    """One ONNX Runtime session of a YOLOX export that follows the contract above.

    Args:
        model_path: the ``.onnx`` file.
        threads: intra-op threads (0 = onnxruntime's default, all cores).
        score_threshold, nms_iou, withheld, objectness_threshold: see ``decode``.

    Raises ``OSError`` when the file is missing and ``RuntimeError`` / ``ValueError`` when it is
    not a model with the expected input and output (the caller names the fix).
    """

    def __init__(self, model_path: str | os.PathLike[str], threads: int, score_threshold: float,
                 nms_iou: float, withheld: tuple[int, ...] = (), objectness_threshold: float | None = None) -> None:
        import onnxruntime as ort

        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inp, out = self._session.get_inputs()[0], self._session.get_outputs()[0]
        if list(inp.shape) != [1, 3, INPUT_SIZE, INPUT_SIZE] or out.shape[-1] != ROW:
            raise ValueError(
                f"{path} is not a YOLOX {INPUT_SIZE}px COCO export (input {inp.shape}, output {out.shape})"
            )
        self._input = inp.name
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.withheld = withheld  # see ``decode``
        self.objectness_threshold = objectness_threshold

    def __call__(self, image: np.ndarray, score_threshold: float | None = None) -> Boxes:
        """Boxes on ``(H, W, 3) uint8`` RGB ``image``, in its pixels, best first."""
        blob, scale = letterbox(image)
        (raw,) = self._session.run(None, {self._input: blob})
        threshold = self.score_threshold if score_threshold is None else score_threshold
        return decode(raw, scale, (image.shape[1], image.shape[0]), threshold, self.nms_iou,
                      withheld=self.withheld, objectness_threshold=self.objectness_threshold)
