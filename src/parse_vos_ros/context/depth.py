"""Depth geometry: decoding aligned depth images, back-projection and the target's 3D point.

Conventions (REP 103/105 camera optical frame, as RGB-D drivers publish it): x to the right,
y down, z forward along the optical axis, metres. A depth image is aligned to the colour image
(same size, same intrinsics); a pixel's depth is its z, not the ray length. Invalid depth
(no return, out of range, NaN) is NaN after decoding, so medians simply skip it.

Encodings (sensor_msgs/Image, as drivers publish them):
- ``16UC1``: uint16 millimetres, 0 = no measurement (RealSense, Orbbec, OAK, Kinect);
- ``32FC1``: float32 metres, NaN/inf/0 = no measurement (ZED, Isaac ROS, depth_image_proc).

Everything here is ROS-free; ``ros/depth_input.py`` turns messages into these values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from parse_vos_ros.types import TargetPoint

DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")  # mono16 is what some drivers call 16UC1 millimetres
MM_PER_M = 1000.0
MIN_DEPTH_M = 0.05  # nearer than this is a sensor artefact, not a measurement
MAX_DEPTH_M = 100.0  # farther than this no consumer depth camera measures
MIN_VALID_PIXELS = 5  # fewer valid depth pixels on a target give no 3D point
SURFACE_BAND_M = 0.3  # points within this of the median depth (or SURFACE_BAND_REL of it) are the target
SURFACE_BAND_REL = 0.15
EXTENT_PERCENTILES = (5.0, 95.0)  # the extent spans these percentiles (robust to edge pixels)


class DepthError(ValueError):
    """Depth or intrinsics that cannot be used; ``kind`` names the class for diagnostics.

    Kinds: ``depth_encoding``, ``depth_size_mismatch``, ``depth_malformed``, ``camera_info_invalid``.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of the (colour-aligned) depth image, pixels.

    Attributes:
        fx, fy: focal lengths in pixels (> 0).
        cx, cy: principal point in pixels.
        width, height: image size the intrinsics belong to.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_k(cls, k: object, width: int, height: int) -> Intrinsics:
        """From a row-major 3x3 camera matrix ``K`` (CameraInfo.k); validated.

        Raises:
            DepthError(camera_info_invalid): not 9 finite numbers, zero or negative focal
                length, no image size, or a principal point outside the image.
        """
        try:
            values = np.asarray(k, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise DepthError("camera_info_invalid", "camera_info K is not a list of numbers") from None
        if values.size != 9 or not np.all(np.isfinite(values)):
            raise DepthError("camera_info_invalid", f"camera_info K must be 9 finite numbers, got {values.tolist()}")
        out = cls(float(values[0]), float(values[4]), float(values[2]), float(values[5]), int(width), int(height))
        out.validate()
        return out

    def validate(self) -> None:
        """Raises ``DepthError(camera_info_invalid)`` unless usable for back-projection."""
        if not (self.fx > 0 and self.fy > 0 and math.isfinite(self.fx) and math.isfinite(self.fy)):
            raise DepthError("camera_info_invalid", f"camera_info focal length must be > 0, got fx={self.fx} "
                                                    f"fy={self.fy} (an uncalibrated camera publishes zeros)")
        if self.width <= 0 or self.height <= 0:
            raise DepthError("camera_info_invalid", f"camera_info size {self.width}x{self.height} is empty")
        if not (0 <= self.cx <= self.width and 0 <= self.cy <= self.height):
            raise DepthError("camera_info_invalid", f"principal point ({self.cx:.1f}, {self.cy:.1f}) lies outside "
                                                    f"the {self.width}x{self.height} image")

    def scaled(self, width: int, height: int) -> Intrinsics:
        """The same camera for the image resized to ``width`` x ``height`` (pixel centres kept)."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
                          width, height)


@dataclass(frozen=True)
class DepthFrame:
    """A depth image aligned to one colour frame, with the camera it was taken with.

    Attributes:
        depth_m: ``(H, W) float32`` metres, NaN where invalid; H, W = the colour image's.
        intrinsics: of ``depth_m``.
        frame_id: the optical frame the 3D points are in (from the depth/camera_info header).
    """

    depth_m: np.ndarray
    intrinsics: Intrinsics
    frame_id: str = ""

    def resized(self, width: int, height: int) -> DepthFrame:
        """Nearest-neighbour resize (depth must not be blended across object edges)."""
        if (self.depth_m.shape[1], self.depth_m.shape[0]) == (width, height):
            return self
        depth = cv2.resize(self.depth_m, (width, height), interpolation=cv2.INTER_NEAREST)
        return DepthFrame(depth, self.intrinsics.scaled(width, height), self.frame_id)


def decode_depth(encoding: str, height: int, width: int, step: int, is_bigendian: bool,
                 data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """A depth image message's payload -> ``(H, W) float32`` metres, NaN where invalid.

    ``data`` is anything with the buffer protocol (rclpy's ``array.array``, rosbags' uint8 array,
    bytes); it is read in place, and the float32 result is the one copy made.

    Raises:
        DepthError(depth_encoding): not 16UC1 / mono16 / 32FC1.
        DepthError(depth_malformed): sizes, step and payload length disagree.
    """
    if encoding not in DEPTH_ENCODINGS:
        raise DepthError("depth_encoding", f"depth encoding '{encoding}' is not supported "
                                           f"(use {', '.join(DEPTH_ENCODINGS)})")
    dtype = np.dtype(np.float32 if encoding == "32FC1" else np.uint16).newbyteorder(">" if is_bigendian else "<")
    row = width * dtype.itemsize
    if height <= 0 or width <= 0:
        raise DepthError("depth_malformed", f"depth image {width}x{height} is empty")
    buf = np.frombuffer(data, dtype=np.uint8)
    if step < row or buf.size < step * (height - 1) + row:  # the last row's padding may be cut
        raise DepthError("depth_malformed", f"depth {width}x{height} {encoding}: step {step} and "
                                            f"{buf.size} bytes do not hold the image")
    # A strided view of the payload (rows ``step`` bytes apart, padding skipped), converted once.
    raw = np.ndarray((height, width), dtype, buffer=buf, strides=(step, dtype.itemsize))
    depth = raw.astype(np.float32)
    if encoding != "32FC1":
        depth /= np.float32(MM_PER_M)
    _invalidate(depth)
    return depth


def depth_from_mm(depth_mm: np.ndarray) -> np.ndarray:
    """``(H, W) uint16`` millimetres (16UC1, 0 = no measurement) -> ``(H, W) float32`` metres, NaN where invalid."""
    depth = depth_mm.astype(np.float32)
    depth /= np.float32(MM_PER_M)
    _invalidate(depth)
    return depth


def _invalidate(depth: np.ndarray) -> None:
    """Set NaN, in place, where the ``(H, W) float32`` metres ``depth`` holds no measurement: NaN,
    inf, zero, negative or beyond ``[MIN_DEPTH_M, MAX_DEPTH_M]`` (NaN fails both comparisons)."""
    depth[~((depth >= MIN_DEPTH_M) & (depth <= MAX_DEPTH_M))] = np.nan


def encode_depth_mm(depth_m: np.ndarray) -> np.ndarray:
    """``(H, W)`` metres (NaN = invalid) -> ``(H, W) uint16`` millimetres, 0 = invalid (16UC1)."""
    mm = np.nan_to_num(np.asarray(depth_m, dtype=np.float64) * MM_PER_M, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(np.round(mm), 0, np.iinfo(np.uint16).max).astype(np.uint16)


def back_project(us: np.ndarray, vs: np.ndarray, z: np.ndarray, k: Intrinsics) -> np.ndarray:
    """Pixel coordinates ``(N,)`` (pixel centres at integers) and depths ``(N,)`` m -> ``(N, 3)`` metres."""
    z = np.asarray(z, dtype=np.float64)
    return np.stack([(np.asarray(us) - k.cx) * z / k.fx, (np.asarray(vs) - k.cy) * z / k.fy, z], axis=1)


def mask_depths(depth_m: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Valid depths ``(N,)`` metres under a ``(H, W) bool`` mask."""
    values = depth_m[mask]
    return values[np.isfinite(values)]


def median_depth(depth_m: np.ndarray, mask: np.ndarray) -> float:
    """Median valid depth (m) under ``mask``, NaN with fewer than ``MIN_VALID_PIXELS``."""
    values = mask_depths(depth_m, mask)
    return float(np.median(values)) if values.size >= MIN_VALID_PIXELS else math.nan


def target_point(depth: DepthFrame, mask: np.ndarray, track_id: int = 0,
                 median_m: float | None = None) -> TargetPoint | None:
    """The robust 3D point of the object under ``mask`` ``(H, W) bool`` (``depth``'s size).

    The mask pixels with valid depth within a band around their median depth are back-projected;
    the position is the per-axis median of those points (edge pixels that fall on the background
    and holes do not move it) and the extent their 5-95th percentile span. None when fewer than
    ``MIN_VALID_PIXELS`` pixels have depth. ``median_m``: ``median_depth(depth.depth_m, mask)``
    when already measured (not measured again).
    """
    if mask.shape != depth.depth_m.shape:
        raise ValueError(f"mask {mask.shape} and depth {depth.depth_m.shape} differ in size")
    vs, us = np.nonzero(mask)
    if us.size == 0:
        return None
    z = depth.depth_m[vs, us]
    ok = np.isfinite(z)
    if int(ok.sum()) < MIN_VALID_PIXELS:
        return None
    us, vs, z = us[ok], vs[ok], z[ok]
    # Keep the surface around the median depth: mask pixels that fall on a far background (or a
    # near occluder) at an object's edge would otherwise pull x and y (their rays diverge with z).
    z_med = float(np.median(z)) if median_m is None else median_m
    near = np.abs(z - z_med) <= max(SURFACE_BAND_M, SURFACE_BAND_REL * z_med)
    points = back_project(us[near], vs[near], z[near], depth.intrinsics)
    lo, hi = np.percentile(points, EXTENT_PERCENTILES, axis=0)
    return TargetPoint(int(track_id), np.median(points, axis=0), hi - lo, float(ok.mean()), depth.frame_id)
