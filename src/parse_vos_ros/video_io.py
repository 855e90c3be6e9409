"""Reading videos / image folders as RGB frames with stamps, and writing masks and overlays.

Every file written goes through ``parse_vos_ros.atomic``: an interrupted run never leaves a
truncated PNG or video behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from parse_vos_ros.atomic import atomic_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FPS = 30.0


class VideoInputError(ValueError):
    """The input cannot be read as a video or image folder; the message names the path."""


class FrameSource:
    """Frames of a video file or a folder of images, read lazily in order.

    Args:
        path: a video file (anything OpenCV's FFmpeg backend reads) or a folder of images
            (sorted by name).
        fps: frame rate for stamps; default: the video's own rate, 30 for folders.

    Iterating yields ``(index, (H, W, 3) uint8 RGB frame, stamp seconds)``.
    """

    def __init__(self, path: str | Path, fps: float | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise VideoInputError(f"input not found: {self.path}")
        if fps is not None and fps <= 0:
            raise VideoInputError(f"fps must be > 0, got {fps}")
        self.files: list[Path] = []
        if self.path.is_dir():
            self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.files:
                raise VideoInputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {self.path}")
            self.fps = fps or DEFAULT_FPS
            self.count = len(self.files)
        else:
            cap = cv2.VideoCapture(str(self.path))
            try:
                if not cap.isOpened():
                    raise VideoInputError(f"cannot open video {self.path} (not a video file OpenCV can read)")
                native = cap.get(cv2.CAP_PROP_FPS)
                self.fps = fps or (native if native and 0 < native < 1000 else DEFAULT_FPS)
                self.count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))  # a container's estimate
            finally:
                cap.release()

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, float]]:
        if self.files:
            for i, file in enumerate(self.files):
                bgr = cv2.imread(str(file), cv2.IMREAD_COLOR)
                if bgr is None:
                    raise VideoInputError(f"cannot read image {file}")
                yield i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), i / self.fps
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            i = 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), i / self.fps
                i += 1
            if i == 0:
                raise VideoInputError(f"video {self.path} has no readable frames")
        finally:
            cap.release()


def write_mask_png(path: str | Path, mask: np.ndarray) -> None:
    """Write a ``(H, W) bool`` mask as a 0/255 single-channel PNG, atomically."""
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), mask.astype(np.uint8) * 255):
            raise OSError(f"cannot write {path}")


def overlay(image: np.ndarray, mask: np.ndarray, box: np.ndarray | None, label: str = "") -> np.ndarray:
    """``(H, W, 3) uint8`` RGB with the mask tinted, its outline, the box and a text label."""
    out = image.copy()
    if mask.any():
        tint = np.array([255, 40, 40], np.float32)
        out[mask] = (0.5 * out[mask] + 0.5 * tint).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (255, 255, 0), 1)
    if box is not None:
        x0, y0, x1, y1 = (round(float(v)) for v in box)
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (0, 255, 0), 1)
    if label:
        cv2.putText(out, label, (5, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, label, (5, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


class OverlayWriter:
    """Writes RGB frames to an MP4 (mp4v) file, or MJPG AVI when MP4 is unavailable, atomically.

    Use as a context manager; the file appears at ``path`` (suffix possibly changed to ``.avi``,
    see ``path`` after ``__exit__``) only when the block completes without error.
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self._writer: cv2.VideoWriter | None = None
        self._stack = contextlib.ExitStack()
        self._size = (0, 0)

    def __enter__(self) -> OverlayWriter:
        return self

    def _open(self, size: tuple[int, int]) -> None:
        for suffix, fourcc in ((".mp4", "mp4v"), (".avi", "MJPG")):
            target = self.path.with_suffix(suffix)
            stack = contextlib.ExitStack()
            tmp = stack.enter_context(atomic_path(target))
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), self.fps, size)
            if writer.isOpened():
                self._writer, self._stack, self.path = writer, stack, target
                return
            stack.close()
        raise OSError(f"cannot open a video writer for {self.path} (neither mp4v nor MJPG)")

    def write(self, rgb: np.ndarray) -> None:
        """Append one ``(H, W, 3) uint8`` RGB frame (resized to the first frame's size if needed)."""
        if self._writer is None:
            self._size = (rgb.shape[1], rgb.shape[0])
            self._open(self._size)
        assert self._writer is not None
        if (rgb.shape[1], rgb.shape[0]) != self._size:
            # VideoWriter silently drops frames of another size: keep the first size.
            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._writer is not None:
            self._writer.release()
        if exc_type is None:
            self._stack.close()  # renames the finished file into place
        else:
            self._stack.__exit__(exc_type, *exc)  # removes the partial file
