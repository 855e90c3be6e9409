"""Optional depth and camera_info inputs, paired with colour frames by stamp.

RGB-D drivers publish the aligned depth image and camera_info with the colour image's stamp (or
within a few milliseconds of it), on separate topics that arrive in any order. The callbacks only
store messages in small bounded buffers; when the worker processes a colour frame it asks
:meth:`DepthInput.pair` for the depth whose stamp is nearest, within ``ros.depth_tolerance_s``
(approximate-time pairing of two streams, no message_filters needed). Whatever is wrong with
the depth side comes back as a :class:`DepthFault` (kind + message, counted in diagnostics by the
node) and the colour frame goes on in 2D: depth never stops or delays the 2D outputs.

Messages are read by attribute only (``header``, ``encoding``, ``k`` ...), so this module is
tested with plain objects as well as through the node.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from parse_vos_ros.context.depth import DepthError, DepthFrame, Intrinsics, decode_depth
from parse_vos_ros.ros.stamps import stamp_seconds

DEPTH_BUFFER = 8  # depth images kept for pairing (at 30 Hz: ~0.25 s, several frames of processing lag)
CAMERA_INFO_BUFFER = 8
MIN_VALID_FRACTION = 0.01  # a depth image with fewer valid pixels than this is reported as empty

T = TypeVar("T")


class StampBuffer(Generic[T]):
    """The ``capacity`` most recently arrived items with their stamps, nearest-stamp lookup (thread-safe).

    Eviction is by arrival, not by stamp: after a stream restart (a bag loop, a camera restart)
    the new, earlier-stamped messages replace the old ones instead of being evicted at once.

    Args:
        capacity: items kept.
    """

    def __init__(self, capacity: int) -> None:
        self._items: collections.deque[tuple[float, T]] = collections.deque(maxlen=max(1, capacity))
        self._lock = threading.Lock()
        self.received = 0

    def add(self, stamp: float, item: T) -> None:
        """Keep ``item`` stamped ``stamp`` seconds; the earliest arrival goes when full."""
        with self._lock:
            self.received += 1
            self._items.append((stamp, item))

    def nearest(self, stamp: float) -> tuple[float, T] | None:
        """``(stamp difference in s, item)`` of the item nearest ``stamp`` (the newest on a tie); None when empty."""
        with self._lock:
            if not self._items:
                return None
            best_stamp, best = min(reversed(self._items), key=lambda entry: abs(entry[0] - stamp))
            return abs(best_stamp - stamp), best


@dataclass(frozen=True)
class DepthFault:
    """Why a colour frame got no depth: ``kind`` (diagnostics key ``fault_<kind>``) and a message."""

    kind: str
    message: str


def intrinsics_from_camera_info(info: Any) -> Intrinsics:
    """sensor_msgs/CameraInfo -> validated Intrinsics.

    Raises:
        DepthError(camera_info_invalid): zero focal length, empty size, bad K.
    """
    return Intrinsics.from_k(list(info.k), int(info.width), int(info.height))


class DepthInput:
    """Buffers depth images and camera_info; pairs them with colour frames.

    Args:
        tolerance_s: the largest stamp difference (s) between a colour frame and its depth, and
            between the depth and its camera_info, that still counts as the same instant
            (``ros.depth_tolerance_s``; the node sets it again on a parameter change, in
            ``NodeParameters._adopt_config``, with every value it keeps from the config).
    """

    def __init__(self, tolerance_s: float) -> None:
        self.tolerance_s = tolerance_s
        self.depth: StampBuffer[Any] = StampBuffer(DEPTH_BUFFER)
        self.camera_info: StampBuffer[Any] = StampBuffer(CAMERA_INFO_BUFFER)

    def on_depth(self, msg: Any) -> None:
        """Depth callback: store only (never blocks)."""
        self.depth.add(stamp_seconds(msg.header), msg)

    def on_camera_info(self, msg: Any) -> None:
        """camera_info callback: store only."""
        self.camera_info.add(stamp_seconds(msg.header), msg)

    @property
    def active(self) -> bool:
        """Some depth image or camera_info has arrived: the frames are expected to get depth."""
        return self.depth.received > 0 or self.camera_info.received > 0

    def pair(self, stamp: float, width: int, height: int) -> tuple[DepthFrame | None, DepthFault | None]:
        """The depth for the colour frame at ``stamp`` (``width`` x ``height``), or why there is none.

        Returns ``(None, None)`` while no depth input has ever arrived (a 2D camera).
        """
        if not self.active:
            return None, None
        tol = self.tolerance_s
        found = self.depth.nearest(stamp)
        if found is None:
            return None, DepthFault("depth_missing", "camera_info arrives but no depth image: 3D outputs off")
        gap, msg = found
        if gap > tol:
            return None, DepthFault("depth_unpaired", f"no depth image within {tol:g} s of the image stamp "
                                                      f"{stamp:.3f} (nearest {gap:.3f} s away): frame kept 2D")
        depth_stamp = stamp_seconds(msg.header)
        info_found = self.camera_info.nearest(depth_stamp)
        if info_found is None:
            return None, DepthFault("camera_info_missing", "depth arrives but no camera_info: no intrinsics "
                                                           "to back-project with, 3D outputs off")
        info_gap, info = info_found
        if info_gap > tol:
            return None, DepthFault("camera_info_unpaired", f"no camera_info within {tol:g} s of the depth stamp "
                                                            f"{depth_stamp:.3f} (nearest {info_gap:.3f} s away): "
                                                            "frame kept 2D")
        try:
            if (int(msg.width), int(msg.height)) != (width, height):
                raise DepthError("depth_size_mismatch", f"depth {msg.width}x{msg.height} is not aligned to the "
                                                        f"{width}x{height} colour image (use the aligned depth topic)")
            intrinsics = intrinsics_from_camera_info(info)
            if (intrinsics.width, intrinsics.height) != (width, height):
                raise DepthError("camera_info_invalid", f"camera_info is for {intrinsics.width}x{intrinsics.height}, "
                                                        f"the images are {width}x{height}")
            depth_m = decode_depth(msg.encoding, int(msg.height), int(msg.width), int(msg.step),
                                   bool(msg.is_bigendian), msg.data)  # read in place, not copied
        except DepthError as exc:
            return None, DepthFault(exc.kind, str(exc))
        valid = float(np.isfinite(depth_m).mean())
        if valid < MIN_VALID_FRACTION:
            return None, DepthFault("depth_empty", f"depth image has {100 * valid:.1f} % valid pixels "
                                                   "(all NaN / zero): 3D outputs off for this frame")
        frame_id = msg.header.frame_id or info.header.frame_id
        return DepthFrame(depth_m, intrinsics, frame_id), None
