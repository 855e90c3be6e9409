"""Procedural synthetic video for the benchmarks: textured look-alike balls over a textured
background, seen by a panning camera.

Frames are cheap to make (one slice copy of a pre-rendered background plus a few masked sprite
copies, well under a millisecond at 640x480), so a 20,000-frame stream costs no memory and the
generator's time is never counted as engine time (the benches time ``push_frame`` alone).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# (name, RGB base colour); two red balls are look-alikes that differ only in motion.
_OBJECTS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (210, 40, 40)),
    ("red", (210, 40, 40)),
    ("blue", (40, 70, 210)),
    ("green", (40, 180, 60)),
)

# Commands that name objects of this stream, cycled by the long-stream and soak runs.
COMMANDS: tuple[str, ...] = (
    "the red ball moving to the right",
    "the blue ball",
    "the two red balls",
    "the red ball moving to the left",
    "the green ball going down",
)


@dataclass
class _Sprite:
    texture: np.ndarray  # (s, s, 3) uint8 RGB
    alpha: np.ndarray  # (s, s) bool disc
    start: np.ndarray  # (2,) float world xy of the top-left corner at frame 0
    velocity: np.ndarray  # (2,) float world px per frame


def _reflect(value: float, lo: float, hi: float) -> float:
    """``value`` folded into ``[lo, hi]`` as if bouncing off both ends (a triangle wave)."""
    span = hi - lo
    if span <= 0:
        return lo
    u = (value - lo) % (2.0 * span)
    return lo + (u if u <= span else 2.0 * span - u)


class SyntheticStream:
    """An endless deterministic stream of ``(height, width, 3) uint8`` RGB frames.

    Args:
        width, height: frame size in pixels.
        seed: random seed for textures and motion (same seed -> same frames).
        n_objects: number of balls, 1..4 (two red look-alikes, then blue, green).
        pan_period_frames: frames per full period of the sinusoidal camera pan.
    """

    def __init__(self, width: int, height: int, *, seed: int = 0, n_objects: int = 4,
                 pan_period_frames: int = 240) -> None:
        if width < 64 or height < 64:
            raise ValueError(f"synthetic frames must be at least 64x64, got {width}x{height}")
        if not 1 <= n_objects <= len(_OBJECTS):
            raise ValueError(f"n_objects must be in [1, {len(_OBJECTS)}], got {n_objects}")
        rng = np.random.default_rng(seed)
        self.width, self.height = width, height
        self.margin = max(8, width // 10)  # pan amplitude in pixels
        self.pan_period = max(2, pan_period_frames)
        world_w, world_h = width + 2 * self.margin, height + 2 * self.margin
        # Grey-ish background so colour words pick out the balls, textured so flow has features.
        self.background = self._texture(rng, world_w, world_h, (120, 112, 100), 45.0, channels=1)
        size = max(12, height // 7)
        self.sprites: list[_Sprite] = []
        yy, xx = np.mgrid[:size, :size]
        disc = (xx - size / 2 + 0.5) ** 2 + (yy - size / 2 + 0.5) ** 2 <= (size / 2) ** 2
        for k in range(n_objects):
            _, colour = _OBJECTS[k]
            hi = [world_w - self.margin - size, world_h - self.margin - size]
            start = rng.uniform([self.margin, self.margin], hi)
            speed = rng.uniform(1.5, 4.0) * width / 640.0
            angle = rng.uniform(-0.5, 0.5) + (0.0 if k % 2 == 0 else np.pi)  # look-alikes move apart
            velocity = speed * np.array([np.cos(angle), np.sin(angle)])
            self.sprites.append(_Sprite(self._texture(rng, size, size, colour, 25.0), disc, start, velocity))
        self._world_hi = (world_w - size, world_h - size)

    @staticmethod
    def _texture(rng: np.random.Generator, w: int, h: int, base: tuple[int, int, int], amp: float,
                 channels: int = 3) -> np.ndarray:
        """Smooth blobs plus fine grain around ``base`` colour: ``(h, w, 3) uint8``; ``channels=1``
        varies brightness only (no added colour)."""
        coarse = rng.normal(0.0, 1.0, (max(2, h // 24), max(2, w // 24), channels)).astype(np.float32)
        smooth = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, channels)
        grain = rng.normal(0.0, 0.35, (h, w, channels)).astype(np.float32)
        img = np.asarray(base, np.float32) + amp * (smooth + grain)
        return np.clip(img, 0, 255).astype(np.uint8)

    def camera_offset(self, index: int) -> tuple[int, int]:
        """Top-left world pixel of the view on frame ``index`` (sinusoidal pan, slower tilt)."""
        phase = 2.0 * np.pi * index / self.pan_period
        x = self.margin * (1.0 + np.sin(phase))
        y = self.margin * (1.0 + 0.5 * np.sin(0.7 * phase))
        return round(float(x)), round(float(y))

    def object_boxes(self, index: int) -> list[np.ndarray]:
        """World-independent ``(4,)`` xyxy boxes of every ball on frame ``index`` in image pixels."""
        cx, cy = self.camera_offset(index)
        boxes = []
        for sp in self.sprites:
            x, y = self._position(sp, index)
            s = sp.alpha.shape[0]
            boxes.append(np.array([x - cx, y - cy, x - cx + s, y - cy + s], dtype=np.float64))
        return boxes

    def _position(self, sp: _Sprite, index: int) -> tuple[int, int]:
        pos = sp.start + sp.velocity * index
        return (round(_reflect(float(pos[0]), 0.0, self._world_hi[0])),
                round(_reflect(float(pos[1]), 0.0, self._world_hi[1])))

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as a new ``(height, width, 3) uint8`` RGB array."""
        cx, cy = self.camera_offset(index)
        out = self.background[cy:cy + self.height, cx:cx + self.width].copy()
        for sp in self.sprites:
            x, y = self._position(sp, index)
            s = sp.alpha.shape[0]
            # Clip the sprite rectangle to the view.
            x0, y0 = max(x - cx, 0), max(y - cy, 0)
            x1, y1 = min(x - cx + s, self.width), min(y - cy + s, self.height)
            if x1 <= x0 or y1 <= y0:
                continue
            sx, sy = x0 - (x - cx), y0 - (y - cy)
            region = (slice(sy, sy + y1 - y0), slice(sx, sx + x1 - x0))
            np.copyto(out[y0:y1, x0:x1], sp.texture[region], where=sp.alpha[region][..., None])
        return out
