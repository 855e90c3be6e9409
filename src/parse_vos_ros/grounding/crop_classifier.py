"""ImageNet-1k recognition of box crops: MobileNetV2 (quantized TFLite, vendored) on LiteRT.

Contract of ``data/models/coral/mobilenet_v2_1.0_224_quant.tflite`` (``coral/PROVENANCE.md``):
input uint8 ``(1, 224, 224, 3)`` RGB raw pixels; output uint8 ``(1, 1001)`` softmax with scale
1/256 (zero point 0), index 0 the background class, indices 1..1000 the ImageNet classes named
by ``imagenet_labels.txt`` (line k = index k). ``ai_edge_litert`` is imported only when an
interpreter is built.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

INPUT_SIDE = 224  # pixels, square
NUM_OUTPUTS = 1001  # background + 1000 ImageNet classes
LABELS_FILE = "coral/imagenet_labels.txt"  # the class names, under the vendored data/models
CROP_MARGIN_PER_SIDE = 0.1  # each side of a box is widened by this fraction of its size (context helps the classifier)


def crop_square(image: np.ndarray, box: np.ndarray, margin: float = CROP_MARGIN_PER_SIDE,
                side: int = INPUT_SIDE) -> np.ndarray:
    """The ``(side, side, 3) uint8`` classifier input for ``box`` on ``image``.

    The box (xyxy pixels) is widened by ``margin`` of its size on every side and clipped to the
    image, then resized to ``side x side`` (aspect not kept: the classifier was trained on
    whole-image resizes of varied aspect, and the crop then shows the whole object).
    """
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    xa, ya = int(np.clip(np.floor(x0 - mx), 0, w - 1)), int(np.clip(np.floor(y0 - my), 0, h - 1))
    xb, yb = int(np.clip(np.ceil(x1 + mx), xa + 1, w)), int(np.clip(np.ceil(y1 + my), ya + 1, h))
    return cv2.resize(image[ya:yb, xa:xb], (side, side), interpolation=cv2.INTER_AREA)


class CropClassifier:
    """One LiteRT interpreter of the quantized MobileNetV2 ImageNet classifier.

    Args:
        model_path: the ``.tflite`` file.
        threads: interpreter threads (>= 1).

    Raises ``OSError`` for a missing file and ``ValueError`` / ``RuntimeError`` for a file that is
    not a model with the contract above.
    """

    def __init__(self, model_path: str | os.PathLike[str], threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        self._interpreter = Interpreter(model_path=str(path), num_threads=max(1, threads))
        self._interpreter.allocate_tensors()
        inp = self._interpreter.get_input_details()[0]
        out = self._interpreter.get_output_details()[0]
        if list(inp["shape"]) != [1, INPUT_SIDE, INPUT_SIDE, 3] or list(out["shape"]) != [1, NUM_OUTPUTS]:
            raise ValueError(f"{path} is not a 224px ImageNet-1k classifier (input {inp['shape']}, "
                             f"output {out['shape']})")
        self._input, self._output = inp["index"], out["index"]
        scale, zero = out["quantization"]
        self._scale = float(scale) if scale else 1.0
        self._zero = int(zero)

    def probabilities(self, image: np.ndarray, boxes: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """``(N, 1001) float32`` class probabilities of the crops of ``boxes`` (xyxy pixels) on
        ``(H, W, 3) uint8`` RGB ``image``; column 0 is the background class."""
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        out = np.zeros((len(boxes), NUM_OUTPUTS), np.float32)
        for k, box in enumerate(boxes):
            self._interpreter.set_tensor(self._input, crop_square(image, box)[None])
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._output)[0]
            out[k] = (raw.astype(np.float32) - self._zero) * self._scale
        return out


def subtree_mass(probabilities: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """``(N,)`` probability mass of ``(N, 1001)`` ``probabilities`` over the class indices ``classes``."""
    if len(classes) == 0:
        return np.zeros(probabilities.shape[0], np.float32)
    return np.clip(probabilities[:, np.asarray(classes, np.int64)].sum(axis=1), 0.0, 1.0)


def load_labels(path: str | os.PathLike[str]) -> list[str]:
    """``imagenet_labels.txt`` lines; index k is the class of output column k (0 = background)."""
    return Path(path).read_text(encoding="utf-8").splitlines()
