"""Synthetic clips with exact masks and small protocol-conforming backends for engine tests.

The backends here are test doubles of ``Detector`` / ``Segmenter`` that only understand the
synthetic clips (saturated red blobs); the engine tests also run with the real embedded backends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from parse_vos_ros.types import Detection, FrameContext


@dataclass
class Clip:
    """``frames``: list of ``(H, W, 3) uint8`` RGB; ``masks``: per object, list of ``(H, W) bool``."""

    frames: list[np.ndarray]
    masks: list[list[np.ndarray]]
    fps: float


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth random grey-green texture ``(h, w, 3) uint8`` with corners for ego-motion."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    tex = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    tex[..., 0] = tex[..., 0] // 3 + 60  # keep the background far from saturated red
    tex[..., 1] = tex[..., 1] // 2 + 60
    tex[..., 2] = tex[..., 2] // 2 + 60
    return tex


def two_balls(
    n: int = 60,
    size: tuple[int, int] = (320, 240),
    pan_px: float = 1.0,
    speed_px: float = 3.0,
    seed: int = 0,
    fps: float = 30.0,
) -> Clip:
    """Two identical red balls moving in opposite directions over a panning textured background.

    Ball 0 moves right, ball 1 moves left (``speed_px`` per frame each); the camera pans so the
    whole scene shifts left by ``pan_px`` per frame.
    """
    w, h = size
    big = texture(h, w + int(abs(pan_px) * n) + 8, seed)
    frames, m0, m1 = [], [], []
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        off = round(pan_px * i)
        img = np.ascontiguousarray(big[:, off : off + w])
        masks = []
        for x, y in [(w * 0.2 + speed_px * i, h * 0.35), (w * 0.8 - speed_px * i, h * 0.65)]:
            # Positions are in scene coordinates; the pan moves them in the image.
            cx = x - pan_px * i
            m = (xx - cx) ** 2 + (yy - y) ** 2 <= (h * 0.08) ** 2
            img[m] = (220, 30, 30)
            masks.append(m)
        frames.append(img)
        m0.append(masks[0])
        m1.append(masks[1])
    return Clip(frames, [m0, m1], fps)


def _red(image: np.ndarray) -> np.ndarray:
    r, g, b = (image[..., i].astype(np.int16) for i in range(3))
    return (r > 150) & (g < 90) & (b < 90)


class RedBlobDetector:
    """Detector double: every saturated red connected component is a candidate for any phrase."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, frame: FrameContext, phrases: Sequence[str]) -> list[Detection]:
        self.calls += 1
        n, _, st, _ = cv2.connectedComponentsWithStats(_red(frame.image).astype(np.uint8))
        out = []
        for i in range(1, n):
            x, y, w, h, area = st[i]
            if area >= 20:
                out.append(Detection(np.array([x, y, x + w, y + h], float), 0.9, phrases[0]))
        return out


class RedBlobSegmenter:
    """Segmenter double: an object's mask is the red pixels near its previous box."""

    def __init__(self) -> None:
        self.boxes: dict[int, np.ndarray] = {}
        self.resets = 0

    def _mask(self, frame: FrameContext, box: np.ndarray, pad: float) -> np.ndarray:
        h, w = frame.gray.shape
        x0, y0, x1, y1 = box
        m = np.zeros((h, w), bool)
        xa, ya = max(0, int(x0 - pad)), max(0, int(y0 - pad))
        xb, yb = min(w, int(x1 + pad) + 1), min(h, int(y1 + pad) + 1)
        m[ya:yb, xa:xb] = _red(frame.image[ya:yb, xa:xb])
        return m

    def propagate(self, frame: FrameContext) -> dict[int, np.ndarray]:
        out = {}
        for oid, box in self.boxes.items():
            m = self._mask(frame, box, 6.0)
            ys, xs = np.nonzero(m)
            if len(xs):
                self.boxes[oid] = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
            out[oid] = m
        return out

    def add_objects(self, frame: FrameContext, boxes: Mapping[int, np.ndarray]) -> dict[int, np.ndarray]:
        out = {}
        for oid, box in boxes.items():
            self.boxes[oid] = np.asarray(box, float)
            out[oid] = self._mask(frame, self.boxes[oid], 0.0)
        return out

    def remove_objects(self, object_ids: Iterable[int]) -> None:
        for oid in object_ids:
            self.boxes.pop(oid, None)

    def reset(self) -> None:
        self.boxes.clear()
        self.resets += 1


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union
