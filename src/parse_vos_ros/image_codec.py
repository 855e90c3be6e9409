"""sensor_msgs/Image <-> numpy conversion without cv_bridge and without importing ROS.

The node hands the raw fields of an image message (encoding, height, width, step,
is_bigendian, data) to :func:`decode_image`; everything is validated first, so a malformed
message becomes one :class:`ImageDecodeError` whose ``kind`` names the fault class (for
rate-limited logging and diagnostics counters), never an exception from numpy or OpenCV.

Supported input encodings (the ``sensor_msgs/image_encodings`` names): rgb8, bgr8, mono8,
rgba8, bgra8, mono16, 16UC1 (the same layout as mono16, what depth cameras publish), yuv422
(= uyvy byte order), yuv422_yuy2 (= yuyv), and the aliases uyvy, yuyv. ``step`` padding at the end
of each row is skipped; ``is_bigendian`` matters for the 16-bit encodings.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# encoding -> (channels, bytes per channel)
_LAYOUT: dict[str, tuple[int, int]] = {
    "rgb8": (3, 1),
    "bgr8": (3, 1),
    "mono8": (1, 1),
    "rgba8": (4, 1),
    "bgra8": (4, 1),
    "mono16": (1, 2),
    "16uc1": (1, 2),  # one unsigned 16-bit channel: mono16's layout (depth images in millimetres)
    "yuv422": (2, 1),
    "uyvy": (2, 1),
    "yuv422_yuy2": (2, 1),
    "yuyv": (2, 1),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_LAYOUT)

# Fault classes reported by ImageDecodeError.kind.
EMPTY = "empty_image"
SIZE_MISMATCH = "size_mismatch"
BAD_ENCODING = "bad_encoding"
TOO_LARGE = "too_large"
TOO_SMALL = "too_small"


class ImageDecodeError(ValueError):
    """An image message cannot be converted; ``kind`` is one of the fault-class constants."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class RawImage:
    """The fields of a sensor_msgs/Image, as plain Python values (what the codec produces)."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: bytes


def check_pixels(height: int, width: int, max_pixels: int) -> None:
    """Raise ``ImageDecodeError(TOO_LARGE)`` when ``height * width`` exceeds ``max_pixels``."""
    if height * width > max_pixels:
        raise ImageDecodeError(
            TOO_LARGE, f"image {width}x{height} has more than ros.max_image_pixels={max_pixels} pixels"
        )


def decode_image(
    encoding: str,
    height: int,
    width: int,
    step: int,
    is_bigendian: int | bool,
    data: bytes | bytearray | memoryview | np.ndarray,
    max_pixels: int | None = None,
    min_side: int = 1,
) -> np.ndarray:
    """Convert image message fields to an ``(H, W, 3) uint8`` RGB array (a copy, C-contiguous).

    Args:
        encoding: sensor_msgs encoding name (case-insensitive), see ``SUPPORTED_ENCODINGS``.
        height, width: pixels.
        step: bytes per row including padding (>= width * bytes per pixel).
        is_bigendian: byte order of multi-byte channels (mono16 and 16UC1 only).
        data: exactly ``step * height`` bytes (anything with the buffer protocol).
        max_pixels: reject images with more than this many pixels (None = no limit).
        min_side: reject images narrower or lower than this many pixels (the engine's minimum).

    Raises:
        ImageDecodeError: zero size, too small, too large, unknown encoding, inconsistent step/size.
    """
    enc = str(encoding).strip().lower()
    if height <= 0 or width <= 0:
        raise ImageDecodeError(EMPTY, f"image has zero size ({width}x{height})")
    if height < min_side or width < min_side:
        raise ImageDecodeError(TOO_SMALL, f"image {width}x{height} is smaller than {min_side}x{min_side} pixels")
    if max_pixels is not None:
        check_pixels(height, width, max_pixels)
    if enc not in _LAYOUT:
        raise ImageDecodeError(
            BAD_ENCODING, f"unsupported encoding '{encoding}' (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    channels, depth = _LAYOUT[enc]
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise ImageDecodeError(SIZE_MISMATCH, f"step {step} < width*bytes_per_pixel {row_bytes} for {enc}")
    if channels == 2 and width % 2:
        raise ImageDecodeError(SIZE_MISMATCH, f"{enc} needs an even width, got {width}")
    if depth == 2 and step % 2:
        raise ImageDecodeError(SIZE_MISMATCH, f"{enc} needs an even step, got {step}")
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    if buf.dtype != np.uint8:
        raise ImageDecodeError(SIZE_MISMATCH, f"data must be bytes, got an array of {buf.dtype}")
    if buf.size != step * height:
        raise ImageDecodeError(
            SIZE_MISMATCH, f"data has {buf.size} bytes, expected step*height = {step}*{height} = {step * height}"
        )
    # Rows as (H, step) then drop the padding: a view, no copy yet.
    rows = buf.reshape(height, step)[:, :row_bytes]
    if depth == 2:
        dtype = np.dtype(">u2" if is_bigendian else "<u2")
        mono16 = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
        # Keep the top 8 bits: the usual display mapping of 16-bit intensity to 8 bits.
        gray = (mono16 >> 8).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    pixels = rows.reshape(height, width, channels)
    if enc == "rgb8":
        return np.ascontiguousarray(pixels)
    if enc == "bgr8":
        return np.ascontiguousarray(pixels[:, :, ::-1])
    if enc == "mono8":
        return np.ascontiguousarray(np.repeat(pixels, 3, axis=2))
    if enc == "rgba8":
        return np.ascontiguousarray(pixels[:, :, :3])
    if enc == "bgra8":
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    code = cv2.COLOR_YUV2RGB_UYVY if enc in ("yuv422", "uyvy") else cv2.COLOR_YUV2RGB_YUYV
    return cv2.cvtColor(np.ascontiguousarray(pixels), code)


def encode_rgb8(image: np.ndarray) -> RawImage:
    """``(H, W, 3) uint8`` RGB -> rgb8 message fields (no padding)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    return RawImage(h, w, "rgb8", 0, 3 * w, np.ascontiguousarray(image).tobytes())


def encode_mono8(mask: np.ndarray) -> RawImage:
    """``(H, W)`` bool or uint8 mask -> mono8 message fields; True / nonzero becomes 255."""
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    h, w = mask.shape
    data = (mask != 0).astype(np.uint8) * np.uint8(255)
    return RawImage(h, w, "mono8", 0, w, np.ascontiguousarray(data).tobytes())


def decode_mask(raw_height: int, raw_width: int, step: int, encoding: str, data: bytes | memoryview) -> np.ndarray:
    """mono8 message fields -> ``(H, W) bool`` (nonzero = True); used for masks read back from bags."""
    if encoding.lower() != "mono8":
        raise ImageDecodeError(BAD_ENCODING, f"a mask must be mono8, got '{encoding}'")
    if raw_height <= 0 or raw_width <= 0:
        raise ImageDecodeError(EMPTY, f"mask has zero size ({raw_width}x{raw_height})")
    buf = np.frombuffer(data, dtype=np.uint8)
    if step < raw_width or buf.size != step * raw_height:
        raise ImageDecodeError(SIZE_MISMATCH, f"mask data has {buf.size} bytes for step {step} x {raw_height} rows")
    return buf.reshape(raw_height, step)[:, :raw_width] != 0


def overlay(image: np.ndarray, mask: np.ndarray, box: np.ndarray | None, alpha: float = 0.5) -> np.ndarray:
    """Debug view: ``(H, W, 3) uint8`` RGB with the ``(H, W) bool`` mask tinted and the xyxy box drawn."""
    out = image.copy()
    if mask.shape == image.shape[:2] and mask.any():
        # Cyan tint plus a yellow outline: visible on red, green and gray targets alike.
        tint = np.array([0, 220, 255], dtype=np.float32)
        out[mask] = (out[mask].astype(np.float32) * (1 - alpha) + tint * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (255, 255, 0), 1)
    if box is not None:
        x0, y0, x1, y1 = (round(float(v)) for v in box)
        cv2.rectangle(out, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), (255, 0, 255), 2)
    return out
