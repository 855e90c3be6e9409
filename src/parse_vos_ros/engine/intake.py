"""Frame intake: input checks, stream restarts, the working-resolution image, and camera ego-motion
between frames.

The engine is the one owner of stream restarts: :func:`stream_restart` decides whether a frame
continues the stream, the engine resets itself when it does not and says why on
``FrameResult.restart``. Callers (the ROS node, test doubles of the engine) react to that report
instead of deciding again."""

from __future__ import annotations

import math

import cv2
import numpy as np

from parse_vos_ros.context.depth import DepthFrame
from parse_vos_ros.context.ego_motion import IDENTITY, EgoMotionEstimator
from parse_vos_ros.geometry import resize_to_width
from parse_vos_ros.types import MIN_IMAGE_SIDE, FrameContext, StreamRestart


def check_input(image: np.ndarray, stamp: float, depth: DepthFrame | None) -> None:
    """Raise ``ValueError`` unless ``image`` is ``(H, W, 3) uint8`` and large enough, ``stamp`` is
    finite and ``depth`` (when given) is ``(H, W)``."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got {got}")
    if image.shape[0] < MIN_IMAGE_SIDE or image.shape[1] < MIN_IMAGE_SIDE:
        side = MIN_IMAGE_SIDE
        raise ValueError(f"image too small: {image.shape[1]}x{image.shape[0]} (need >= {side}x{side})")
    if not math.isfinite(stamp):
        raise ValueError(f"stamp must be a finite number of seconds, got {stamp}")
    if depth is not None and depth.depth_m.shape != image.shape[:2]:
        raise ValueError(f"depth {depth.depth_m.shape} is not aligned to the {image.shape[:2]} image")


def stream_restart(prev_shape: tuple[int, ...] | None, prev_stamp: float, shape: tuple[int, ...],
                   stamp: float) -> StreamRestart | None:
    """Whether a frame of array ``shape`` (H, W, 3) at ``stamp`` seconds starts a new stream after
    one of ``prev_shape`` at ``prev_stamp`` (``prev_shape`` None: no previous frame): a new image
    geometry, or a stamp before the previous one (an equal stamp continues). None: it continues."""
    if prev_shape is None:
        return None
    if shape != prev_shape:
        return StreamRestart("size_change", f"frame size changed {prev_shape[1]}x{prev_shape[0]} -> "
                                            f"{shape[1]}x{shape[0]}; tracks reset")
    if stamp < prev_stamp:
        return StreamRestart("time_jump", f"stamp jumped back {prev_stamp - stamp:.2f} s; tracks reset")
    return None


class FrameIntake:
    """Turns camera frames into ``FrameContext`` at ``working_width`` and keeps what the next
    frame's ego-motion needs (the previous grey image and its features).

    Attributes:
        index: the number of the next frame since the last reset.
        size: ``(w, h)`` of the working resolution, None before the first frame.
        depth: the last frame's depth at the working resolution, None without depth.
    """

    def __init__(self, working_width: int) -> None:
        self.working_width = working_width
        self.ego = EgoMotionEstimator()
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame: the next one starts a new stream (index 0, no motion)."""
        self.index = 0
        self.size: tuple[int, int] | None = None
        self.depth: DepthFrame | None = None
        self._input_shape: tuple[int, ...] | None = None
        self._prev_gray: np.ndarray | None = None
        self._prev_points: np.ndarray | None = None
        self._prev_stamp = -math.inf

    def restart(self, image: np.ndarray, stamp: float) -> StreamRestart | None:
        """Why ``image`` at ``stamp`` cannot continue the stream (see :func:`stream_restart`): nothing
        may carry over from the previous frame. None: it continues."""
        return stream_restart(self._input_shape, self._prev_stamp, image.shape, stamp)

    def take(self, image: np.ndarray, stamp: float, depth: DepthFrame | None) -> tuple[np.ndarray, np.ndarray]:
        """The ``(h, w, 3)`` working image and its ``(h, w)`` grey version; records size and depth."""
        small = np.ascontiguousarray(resize_to_width(image, self.working_width))
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        self.size, self._input_shape = (small.shape[1], small.shape[0]), image.shape
        self.depth = depth.resized(*self.size) if depth is not None else None
        return small, gray

    def context(self, small: np.ndarray, gray: np.ndarray, stamp: float) -> FrameContext:
        """The frame with the ``(2, 3)`` camera motion from the previous one (identity on the first)."""
        affine = IDENTITY.copy()
        if self._prev_gray is not None:
            affine = self.ego.estimate(self._prev_gray, gray, prev_points=self._prev_points).affine
        return FrameContext(self.index, stamp, small, gray, self._prev_gray, affine)

    def finish(self, frame: FrameContext, exclude: np.ndarray | None) -> None:
        """Keep ``frame`` as the previous one; ``exclude`` ``(h, w) bool`` masks moving objects out of
        the features the next ego-motion estimate tracks."""
        self._prev_points = self.ego.features(frame.gray, exclude)
        self._prev_gray, self._prev_stamp = frame.gray, frame.stamp
        self.index += 1
