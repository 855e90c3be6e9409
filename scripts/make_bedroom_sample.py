#!/usr/bin/env python3
"""Generate samples/bedroom, the real clip `make demo` segments, from the Apache-2.0 bedroom video.

The source is the 200-frame 960x540 JPEG sequence of a boy and a girl jumping on a bed from
facebookresearch/sam2 (``notebooks/videos/bedroom``, Apache-2.0). The sample keeps every
``STEP``-th of the first ``FRAMES * STEP`` frames, downscaled to ``WIDTH`` pixels wide.
Usage: scripts/make_bedroom_sample.py SOURCE_DIR [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

FRAMES = 60  # frames in the sample
STEP = 2  # keep every STEP-th source frame (about 15 fps from the ~30 fps source)
WIDTH = 480  # output width in pixels (height keeps the aspect: 270)
JPEG_QUALITY = 85


def main(source: Path, out: Path) -> None:
    files = sorted(source.glob("*.jpg"))[: FRAMES * STEP : STEP]
    if len(files) < FRAMES:
        raise SystemExit(f"{source}: expected at least {FRAMES * STEP} JPEG frames, found {len(files) * STEP}")
    out.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(files):
        image = cv2.imread(str(path))
        height = round(image.shape[0] * WIDTH / image.shape[1])
        small = cv2.resize(image, (WIDTH, height), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(out / f"{i:05d}.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    print(f"wrote {len(files)} frames to {out}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    default_out = Path(__file__).resolve().parents[1] / "samples" / "bedroom"
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else default_out)
