"""rosbag2 files with ``rosbags`` (sqlite3 and mcap): make, read, and score offline.

This module needs no ROS installation (rosbags is pure Python), so bags can be made and
evaluated offline anywhere; the live parts (replay into a graph, record, score through the
node) are in :mod:`parse_vos_ros.ros.bag_live`.

Bag layout written by :func:`make_bag` (topic names are the node's inputs at the root namespace):

- ``/image``: sensor_msgs/msg/Image rgb8, header stamp = capture time, frame_id ``camera``
- ``/command_stamped``: parse_vos_ros/msg/ReferringCommand at its scheduled time
- ``/gt/mask``: sensor_msgs/msg/Image mono8 ground truth, same header stamp as its image
- with depth: ``/depth`` (sensor_msgs/msg/Image 16UC1 millimetres, aligned to the image) and
  ``/camera_info`` (sensor_msgs/msg/CameraInfo, plumb_bob without distortion), frame_id
  ``camera_color_optical_frame``, same header stamp as the image and written just before it

The bag's log time of each message equals its header stamp, so replay timing is the capture timing.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from parse_vos_ros import image_codec
from parse_vos_ros.context.depth import DepthError, DepthFrame, Intrinsics, decode_depth
from parse_vos_ros.geometry import resize_to_width

IMAGE_TOPIC = "/image"
COMMAND_TOPIC = "/command_stamped"
GT_TOPIC = "/gt/mask"
DEPTH_TOPIC = "/depth"
CAMERA_INFO_TOPIC = "/camera_info"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
OPTICAL_FRAME = "camera_color_optical_frame"
TARGET_TOPIC = "/target"
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMMAND_TYPE = "parse_vos_ros/msg/ReferringCommand"
TARGET_TYPE = "parse_vos_ros/msg/TargetSegmentation"
STORAGES = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class BagError(ValueError):
    """A bag or its inputs cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class TimedCommand:
    """A referring command scheduled at ``stamp`` seconds."""

    stamp: float
    text: str
    command_id: str = ""


@dataclass
class BagContents:
    """Decoded content of a bag made by :func:`make_bag` (or any bag with the same topics).

    Attributes:
        stamps: ``(T,)`` float seconds of the images, in bag order.
        images: T arrays ``(H, W, 3) uint8`` RGB.
        commands: commands in time order.
        gt: ground-truth ``(H, W) bool`` masks by image stamp (rounded to ns).
        depth: aligned depth frames by stamp (ns), where the bag has depth and camera_info.
    """

    stamps: list[float] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    commands: list[TimedCommand] = field(default_factory=list)
    gt: dict[int, np.ndarray] = field(default_factory=dict)
    depth: dict[int, DepthFrame] = field(default_factory=dict)


def stamp_ns(seconds: float) -> int:
    """Seconds -> integer nanoseconds (the key used to match images, masks and outputs)."""
    return round(seconds * 1e9)


def _msg_dirs() -> list[Path]:
    """Where this package's .msg files are: the source tree, then any ROS install prefix."""
    dirs = [Path(__file__).resolve().parents[3] / "msg"]
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        dirs.append(Path(prefix) / "share" / "parse_vos_ros" / "msg")
    return dirs


@functools.lru_cache(maxsize=1)
def typestore() -> Typestore:
    """The ROS 2 Kilted typestore plus this package's messages."""
    store = get_typestore(Stores.ROS2_KILTED)
    for directory in _msg_dirs():
        files = sorted(directory.glob("*.msg"))
        if files:
            types: dict[str, Any] = {}
            for path in files:
                types.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"parse_vos_ros/msg/{path.stem}"))
            store.register(types)
            return store
    raise BagError(f"parse_vos_ros .msg files not found (searched {', '.join(map(str, _msg_dirs()))})")


def _header(store: Typestore, stamp: float, frame_id: str) -> Any:
    time_t = store.types["builtin_interfaces/msg/Time"]
    header_t = store.types["std_msgs/msg/Header"]
    ns = stamp_ns(stamp)
    return header_t(stamp=time_t(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), frame_id=frame_id)


def _image_msg(store: Typestore, raw: image_codec.RawImage, stamp: float, frame_id: str) -> Any:
    return store.types[IMAGE_TYPE](
        header=_header(store, stamp, frame_id), height=raw.height, width=raw.width, encoding=raw.encoding,
        is_bigendian=raw.is_bigendian, step=raw.step, data=np.frombuffer(raw.data, dtype=np.uint8),
    )


def _depth_msg(store: Typestore, depth_mm: np.ndarray, stamp: float) -> Any:
    depth_mm = np.ascontiguousarray(depth_mm, dtype="<u2")
    h, w = depth_mm.shape
    return store.types[IMAGE_TYPE](
        header=_header(store, stamp, OPTICAL_FRAME), height=h, width=w, encoding="16UC1", is_bigendian=0,
        step=2 * w, data=np.frombuffer(depth_mm.tobytes(), dtype=np.uint8),
    )


def _camera_info_msg(store: Typestore, k: Intrinsics, stamp: float) -> Any:
    """A CameraInfo for an undistorted (rectified, aligned) image with intrinsics ``k``."""
    roi_t = store.types["sensor_msgs/msg/RegionOfInterest"]
    kk = np.array([k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0])
    pp = np.array([k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0])
    return store.types[CAMERA_INFO_TYPE](
        header=_header(store, stamp, OPTICAL_FRAME), height=k.height, width=k.width, distortion_model="plumb_bob",
        d=np.zeros(5), k=kk, r=np.eye(3).reshape(-1), p=pp, binning_x=0, binning_y=0,
        roi=roi_t(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


def write_bag(path: str | os.PathLike[str], storage: str = "sqlite3") -> Writer:
    """A rosbags Writer for a new bag directory (open it with ``with`` or ``.open()``; fails if it exists)."""
    if storage not in STORAGES:
        raise BagError(f"unknown storage '{storage}' (known: {', '.join(STORAGES)})")
    return Writer(Path(path), version=9, storage_plugin=STORAGES[storage])


def make_bag(path: str | os.PathLike[str], frames: Iterable[np.ndarray], *, fps: float = 30.0,
             commands: Sequence[TimedCommand] = (), gt_masks: Iterable[np.ndarray] | None = None,
             start_stamp: float = 1000.0, storage: str = "sqlite3", frame_id: str = "camera",
             depth: Sequence[tuple[np.ndarray, Intrinsics]] | None = None) -> int:
    """Write frames (+ commands + optional ground truth) into a new bag at ``path``.

    The bag is written to a temporary sibling directory and renamed at the end, so an
    interrupted run never leaves a half-written bag under ``path``.

    Args:
        frames: ``(H, W, 3) uint8`` RGB images, captured at ``fps``.
        commands: scheduled commands (stamps in the same clock as ``start_stamp``).
        gt_masks: ``(H, W)`` masks aligned with ``frames`` (nonzero = target), or None.
        depth: per frame ``((H, W) uint16 millimetres, intrinsics)``, written as ``/depth`` and
            ``/camera_info``; or None.
        start_stamp: stamp of the first frame in seconds.

    Returns:
        The number of frames written.
    """
    if fps <= 0:
        raise BagError(f"fps must be > 0, got {fps}")
    target = Path(path)
    if target.exists():
        raise BagError(f"{target} already exists")
    # Written inside a hidden sibling folder under its final name (the storage file is named
    # after the bag directory), then moved into place.
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    store = typestore()
    count = 0
    try:
        with write_bag(staging / target.name, storage) as writer:
            img_conn = writer.add_connection(IMAGE_TOPIC, IMAGE_TYPE, typestore=store)
            cmd_conn = writer.add_connection(COMMAND_TOPIC, COMMAND_TYPE, typestore=store)
            gt_conn = writer.add_connection(GT_TOPIC, IMAGE_TYPE, typestore=store) if gt_masks is not None else None
            depth_conns = (writer.add_connection(DEPTH_TOPIC, IMAGE_TYPE, typestore=store),
                           writer.add_connection(CAMERA_INFO_TOPIC, CAMERA_INFO_TYPE, typestore=store)
                           ) if depth is not None else None
            pending = sorted(commands, key=lambda c: c.stamp)
            masks: Iterator[np.ndarray] | None = iter(gt_masks) if gt_masks is not None else None

            def write_commands_until(limit: float) -> None:
                while pending and pending[0].stamp <= limit:
                    cmd = pending.pop(0)
                    msg = store.types[COMMAND_TYPE](header=_header(store, cmd.stamp, ""), id=cmd.command_id,
                                                    text=cmd.text, text_length=len(cmd.text.encode("utf-8")))
                    writer.write(cmd_conn, stamp_ns(cmd.stamp), store.serialize_cdr(msg, COMMAND_TYPE))

            for index, frame in enumerate(frames):
                stamp = start_stamp + index / fps
                write_commands_until(stamp)
                if depth is not None and depth_conns is not None:
                    if index >= len(depth):
                        raise BagError(f"fewer depth images than frames (ran out at frame {index})")
                    depth_mm, intrinsics = depth[index]
                    if depth_mm.shape != frame.shape[:2]:
                        raise BagError(f"depth {index} is {depth_mm.shape}, frame is {frame.shape[:2]}")
                    # Before the colour image: a node pairs it as soon as the image arrives.
                    writer.write(depth_conns[0], stamp_ns(stamp),
                                 store.serialize_cdr(_depth_msg(store, depth_mm, stamp), IMAGE_TYPE))
                    writer.write(depth_conns[1], stamp_ns(stamp),
                                 store.serialize_cdr(_camera_info_msg(store, intrinsics, stamp), CAMERA_INFO_TYPE))
                raw = image_codec.encode_rgb8(frame)
                writer.write(img_conn, stamp_ns(stamp),
                             store.serialize_cdr(_image_msg(store, raw, stamp, frame_id), IMAGE_TYPE))
                if masks is not None and gt_conn is not None:
                    mask = next(masks, None)
                    if mask is None:
                        raise BagError(f"fewer ground-truth masks than frames (ran out at frame {index})")
                    if mask.shape[:2] != frame.shape[:2]:
                        raise BagError(f"mask {index} is {mask.shape[:2]}, frame is {frame.shape[:2]}")
                    msg = _image_msg(store, image_codec.encode_mono8(mask), stamp, frame_id)
                    writer.write(gt_conn, stamp_ns(stamp), store.serialize_cdr(msg, IMAGE_TYPE))
                count += 1
            write_commands_until(float("inf"))
        os.replace(staging / target.name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return count


def read_bag(path: str | os.PathLike[str], image_topic: str = IMAGE_TOPIC, command_topic: str = COMMAND_TOPIC,
             gt_topic: str = GT_TOPIC) -> BagContents:
    """Decode images (any supported encoding), commands and ground-truth masks from a bag."""
    store = typestore()
    out = BagContents()
    depth_raw: dict[int, np.ndarray] = {}
    infos: dict[int, Intrinsics] = {}
    with Reader(Path(path)) as reader:
        conns = [c for c in reader.connections
                 if c.topic in (image_topic, command_topic, gt_topic, DEPTH_TOPIC, CAMERA_INFO_TOPIC)]
        if not any(c.topic == image_topic for c in conns):
            topics = sorted({c.topic for c in reader.connections})
            raise BagError(f"{path} has no '{image_topic}' topic (topics: {', '.join(topics)})")
        for conn, _, raw in reader.messages(connections=conns):
            msg = store.deserialize_cdr(raw, conn.msgtype)
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            if conn.topic == command_topic:
                out.commands.append(TimedCommand(stamp, msg.text, msg.id))
            elif conn.topic == gt_topic:
                out.gt[stamp_ns(stamp)] = image_codec.decode_mask(msg.height, msg.width, msg.step, msg.encoding,
                                                                  msg.data.tobytes())
            elif conn.topic == DEPTH_TOPIC:
                depth_raw[stamp_ns(stamp)] = decode_depth(msg.encoding, msg.height, msg.width, msg.step,
                                                          bool(msg.is_bigendian), msg.data)
            elif conn.topic == CAMERA_INFO_TOPIC:
                try:
                    infos[stamp_ns(stamp)] = Intrinsics.from_k(msg.k, msg.width, msg.height)
                except DepthError as exc:
                    raise BagError(f"{path}: camera_info at {stamp:.3f}: {exc}") from None
            else:
                out.images.append(image_codec.decode_image(msg.encoding, msg.height, msg.width, msg.step,
                                                           msg.is_bigendian, msg.data))
                out.stamps.append(stamp)
    out.depth = {key: DepthFrame(d, infos[key], OPTICAL_FRAME) for key, d in depth_raw.items() if key in infos}
    return out


def read_outputs(path: str | os.PathLike[str], topic: str = TARGET_TOPIC) -> dict[int, tuple[np.ndarray, int]]:
    """Target masks recorded from the node: ``{stamp_ns: ((H, W) bool mask, state)}``."""
    store = typestore()
    out: dict[int, tuple[np.ndarray, int]] = {}
    with Reader(Path(path)) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _, raw in reader.messages(connections=conns):
            msg = store.deserialize_cdr(raw, conn.msgtype)
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            m = msg.mask
            out[stamp_ns(stamp)] = (image_codec.decode_mask(m.height, m.width, m.step, m.encoding, m.data.tobytes()),
                                    int(msg.state))
    return out


def load_frames(source: str | os.PathLike[str], max_frames: int = 0, max_width: int = 0) -> list[np.ndarray]:
    """RGB frames from an image folder (sorted by name) or a video file; optionally downscaled.

    Args:
        max_frames: keep at most this many (0 = all).
        max_width: downscale wider frames to this width keeping the aspect ratio (0 = keep).
    """
    src = Path(source)
    frames: list[np.ndarray] = []
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for p in files[: max_frames or None]:
            bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if bgr is None:
                raise BagError(f"cannot read image {p}")
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    elif src.is_file():
        cap = cv2.VideoCapture(str(src))
        if not cap.isOpened():
            raise BagError(f"cannot open video {src}")
        while not max_frames or len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        cap.release()
    else:
        raise BagError(f"{src} is neither an image folder nor a video file")
    if not frames:
        raise BagError(f"no frames found in {src}")
    return [resize_to_width(f, max_width, cv2.INTER_AREA) for f in frames]


def load_masks(folder: str | os.PathLike[str], count: int, max_width: int = 0) -> list[np.ndarray]:
    """The first ``count`` masks (PNG, sorted by name; nonzero = target) as ``(H, W) bool``."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() == ".png")[:count]
    if len(files) < count:
        raise BagError(f"{folder} has {len(files)} PNG masks, {count} frames need one each")
    masks = []
    for p in files:
        m = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise BagError(f"cannot read mask {p}")
        masks.append(resize_to_width((m > 0).astype(np.uint8), max_width, cv2.INTER_NEAREST) > 0)
    return masks




def parse_timed_command(text: str) -> TimedCommand:
    """``"2.5:the dog running left"`` -> TimedCommand(2.5 s after the first frame, ...)."""
    head, sep, sentence = text.partition(":")
    try:
        offset = float(head)
    except ValueError:
        offset = float("nan")
    if not sep or not np.isfinite(offset) or offset < 0:
        raise BagError(f"a command must look like SECONDS:TEXT (e.g. '0:the dog'), got {text!r}")
    return TimedCommand(offset, sentence.strip())


@dataclass
class EvalResult:
    """J&F of one bag run, plus how many frames had an output."""

    summary: dict[str, float]
    per_frame: list[dict[str, object]]
    predictions: dict[int, np.ndarray]  # stamp_ns -> (H, W) bool


def score(contents: BagContents, predictions: dict[int, np.ndarray]) -> EvalResult:
    """J&F on every ground-truth frame at or after the first command.

    A frame without a prediction (dropped by the node) is scored with the newest earlier
    prediction, i.e. what a robot holding the last result would use; ``coverage`` says how
    many scored frames had their own output.
    """
    from parse_vos_ros.eval.metrics import evaluate_sequence

    first_cmd = stamp_ns(contents.commands[0].stamp) if contents.commands else 0
    keys = sorted(k for k in contents.gt if k >= first_cmd)
    if not keys:
        raise BagError("the bag has no ground-truth masks at or after the first command")
    gts, preds, own = [], [], 0
    held: np.ndarray | None = None
    pred_keys = sorted(predictions)
    pi = 0
    for key in keys:
        while pi < len(pred_keys) and pred_keys[pi] <= key:
            held = predictions[pred_keys[pi]]
            pi += 1
        own += int(key in predictions)
        gt = contents.gt[key]
        pred = held if held is not None and held.shape == gt.shape else np.zeros_like(gt)
        gts.append(gt)
        preds.append(pred)
    scores = evaluate_sequence(np.stack(gts), np.stack(preds), frames=[str(k) for k in keys])
    summary = scores.summary()
    summary["coverage"] = own / len(keys)
    return EvalResult(summary, scores.per_frame(), predictions)


def run_offline(contents: BagContents, engine: Any, on_frame: Callable[[int, Any], None] | None = None
                ) -> dict[int, np.ndarray]:
    """Run a streaming engine over the bag (commands applied at their stamps); masks by stamp_ns."""
    pending = list(contents.commands)
    out: dict[int, np.ndarray] = {}
    for index, (stamp, image) in enumerate(zip(contents.stamps, contents.images, strict=True)):
        while pending and pending[0].stamp <= stamp:
            cmd = pending.pop(0)
            engine.set_command(cmd.text, cmd.stamp, cmd.command_id)
        depth = contents.depth.get(stamp_ns(stamp))
        result = engine.push_frame(image, stamp) if depth is None else engine.push_frame(image, stamp, depth=depth)
        out[stamp_ns(stamp)] = result.mask
        if on_frame is not None:
            on_frame(index, result)
    return out
