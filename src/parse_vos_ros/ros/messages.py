"""Engine results -> ROS messages (TargetSegmentation, mono8 mask, overlay, JSON trace).

Byte payloads are assigned as ``bytes`` (``arr.tobytes()``): assigning a numpy array to a
``uint8[]`` field goes element by element and is ~250x slower for a 640x480 image.
"""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np
from geometry_msgs.msg import Point, PointStamped, Vector3
from sensor_msgs.msg import Image, RegionOfInterest
from std_msgs.msg import Header

from parse_vos_ros.image_codec import RawImage, encode_mono8, encode_rgb8
from parse_vos_ros.msg import TargetSegmentation
from parse_vos_ros.types import FrameResult, TargetPoint, TargetState

STATE_CODES: dict[TargetState, int] = {
    TargetState.IDLE: TargetSegmentation.STATE_IDLE,
    TargetState.SEARCHING: TargetSegmentation.STATE_SEARCHING,
    TargetState.TRACKING: TargetSegmentation.STATE_TRACKING,
    TargetState.AMBIGUOUS: TargetSegmentation.STATE_AMBIGUOUS,
    TargetState.LOST: TargetSegmentation.STATE_LOST,
    TargetState.NOT_FOUND: TargetSegmentation.STATE_NOT_FOUND,
}


def image_message(raw: RawImage, header: Header) -> Image:
    """A sensor_msgs/Image from codec fields, sharing ``header``."""
    msg = Image()
    msg.header = header
    msg.height, msg.width, msg.encoding = raw.height, raw.width, raw.encoding
    msg.is_bigendian, msg.step = raw.is_bigendian, raw.step
    msg.data = raw.data
    return msg


def fit_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """The ``(H, W) bool`` result mask at the input image size (nearest-neighbour when it differs)."""
    if mask.shape == (height, width):
        return mask
    resized = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    return resized.astype(bool)


def box_roi(box: np.ndarray | None, height: int, width: int) -> RegionOfInterest:
    """xyxy float pixel box -> RegionOfInterest clipped to the image (all zero when None)."""
    roi = RegionOfInterest()
    if box is None:
        return roi
    x0, y0, x1, y1 = (float(v) for v in box)
    if not np.isfinite([x0, y0, x1, y1]).all():
        return roi
    ix0 = int(np.clip(np.floor(x0), 0, width))
    iy0 = int(np.clip(np.floor(y0), 0, height))
    ix1 = int(np.clip(np.ceil(x1), 0, width))
    iy1 = int(np.clip(np.ceil(y1), 0, height))
    roi.x_offset, roi.y_offset = ix0, iy0
    roi.width, roi.height = max(0, ix1 - ix0), max(0, iy1 - iy0)
    return roi


def target_message(result: FrameResult, header: Header, mask_msg: Image, command_text: str) -> TargetSegmentation:
    """The TargetSegmentation for one frame; ``mask_msg`` is the mono8 mask already built."""
    msg = TargetSegmentation()
    msg.header = header
    msg.command_id = result.command_id
    msg.command_text = command_text
    msg.state = STATE_CODES.get(TargetState(result.state), TargetSegmentation.STATE_IDLE)
    msg.track_ids = [int(t) for t in result.track_ids]
    msg.score = float(np.clip(result.score, 0.0, 1.0))
    msg.box = box_roi(result.box, mask_msg.height, mask_msg.width)
    msg.mask = mask_msg
    if result.points:
        msg.has_position = True
        msg.position_frame_id = result.points[0].frame_id or header.frame_id
        msg.position_track_ids = [int(p.track_id) for p in result.points]
        msg.positions = [point_message(p) for p in result.points]
        msg.extents = [Vector3(x=float(e[0]), y=float(e[1]), z=float(e[2])) for e in (p.extent for p in result.points)]
    return msg


def point_message(point: TargetPoint) -> Point:
    """A TargetPoint's position as geometry_msgs/Point (metres)."""
    x, y, z = (float(v) for v in point.position)
    return Point(x=x, y=y, z=z)


def point_stamped_messages(result: FrameResult, header: Header) -> list[PointStamped]:
    """One PointStamped per 3D target point: the image's stamp, the depth's optical frame."""
    out = []
    for point in result.points:
        msg = PointStamped()
        msg.header.stamp = header.stamp
        msg.header.frame_id = point.frame_id or header.frame_id
        msg.point = point_message(point)
        out.append(msg)
    return out


def mask_message(result: FrameResult, header: Header, height: int, width: int) -> Image:
    """The mono8 mask (255 = target) at the input image size."""
    return image_message(encode_mono8(fit_mask(result.mask, height, width)), header)


def overlay_message(overlay_rgb: np.ndarray, header: Header) -> Image:
    """rgb8 debug overlay."""
    return image_message(encode_rgb8(overlay_rgb), header)


def trace_json(result: FrameResult) -> str:
    """The reasoning trace as one JSON line (non-JSON values are written as strings)."""
    payload: dict[str, Any] = {
        "index": result.index,
        "stamp": result.stamp,
        "command_id": result.command_id,
        "state": TargetState(result.state).value,
        "track_ids": [int(t) for t in result.track_ids],
        "score": float(result.score),
        "trace": result.trace,
    }
    return json.dumps(payload, default=str, separators=(",", ":"))
