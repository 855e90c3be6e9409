#!/usr/bin/env python3
"""Generate samples/balls: the synthetic clip (a second sample beside samples/bedroom).

60 JPEG frames, 320x240: two look-alike shaded red balls over a textured background, one moving
right and one moving left, while the camera pans slowly (so image motion differs from world
motion). Deterministic: the same files every run. Usage: scripts/make_demo_sample.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

W, H, N = 320, 240, 60
PAN_PX = 0.8  # camera pan, pixels per frame (the scene drifts left)
SPEED_PX = 2.5  # ball speed in the world, pixels per frame
RADIUS = 17


def background(width: int, height: int, seed: int = 7) -> np.ndarray:
    """A grassy/stony texture wider than the frame so the camera can pan over it."""
    rng = np.random.default_rng(seed)
    coarse = cv2.resize(rng.uniform(0, 1, (height // 16, width // 16)), (width, height), interpolation=cv2.INTER_CUBIC)
    fine = cv2.GaussianBlur(rng.uniform(0, 1, (height, width)), (0, 0), 1.2)
    base = 0.6 * coarse + 0.4 * fine
    img = np.stack([70 + 60 * base, 110 + 70 * base, 60 + 40 * base], axis=-1)
    for _ in range(40):  # stones: corners for the ego-motion estimator
        x, y, r = rng.integers(0, width), rng.integers(0, height), rng.integers(2, 6)
        g = int(rng.integers(120, 200))
        cv2.circle(img, (int(x), int(y)), int(r), (g, g, g - 10), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def ball(img: np.ndarray, cx: float, cy: float) -> None:
    """Draw a shaded red ball in place."""
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    d2 = (xx - cx) ** 2 + (yy - cy) ** 2
    inside = d2 <= RADIUS**2
    light = 1.0 - 0.5 * np.sqrt(((xx - cx + 6) ** 2 + (yy - cy + 6) ** 2) / (2 * RADIUS) ** 2)
    shade = np.clip(light[inside], 0.45, 1.0)
    img[inside] = np.stack([230 * shade, 40 * shade, 35 * shade], axis=-1).astype(np.uint8)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    scene = background(W + int(PAN_PX * N) + 4, H)
    for i in range(N):
        off = round(PAN_PX * i)
        frame = np.ascontiguousarray(scene[:, off : off + W])
        ball(frame, 60 + SPEED_PX * i - PAN_PX * i, 85)  # moves right in the world
        ball(frame, 260 - SPEED_PX * i - PAN_PX * i, 160)  # moves left in the world
        cv2.imwrite(str(out / f"{i:05d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {N} frames to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "samples" / "balls")
