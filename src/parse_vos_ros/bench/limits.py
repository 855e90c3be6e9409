"""Reference cost of the physical limits of this pipeline shape on this machine.

Whatever the engine does, every frame must at least be (a) decoded or converted from the camera's
bytes, (b) reduced to the working resolution and luminance, and (c) given one dense optical flow
at the segmenter's internal width: the same ``cv2.DISOpticalFlow`` call, preset and size the
embedded segmenter uses. ``best_fps`` = 1000 / (convert + flow) is the ceiling the engine's FPS is
compared with.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np

from parse_vos_ros.bench.stats import summarize_ms
from parse_vos_ros.bench.streams import SyntheticStream
from parse_vos_ros.config import Config
from parse_vos_ros.geometry import resize_to_width

_FLOW_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def _time(fn: Callable[[int], object], n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1e3)
    return out




def physical_limits(config: Config, width: int, height: int, frames: int = 100, seed: int = 0) -> dict[str, object]:
    """Per-frame cost in ms of decoding, converting and the flow step alone at ``width`` x ``height``.

    Returns medians/percentiles per step and ``best_fps`` (convert + flow, raw camera bytes) and
    ``best_fps_jpeg`` (decode + convert + flow, a compressed camera stream).
    """
    stream = SyntheticStream(width, height, seed=seed)
    images = [stream.frame(i) for i in range(min(frames, 30))]
    raw = [img.tobytes() for img in images]  # what a sensor_msgs/Image rgb8 carries
    jpegs = [cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
             for img in images]
    k = len(images)
    ww = config.engine.working_width
    internal_w = config.tracking.embedded_width

    def decode(i: int) -> np.ndarray:
        return cv2.cvtColor(cv2.imdecode(jpegs[i % k], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    def convert(i: int) -> np.ndarray:
        # Bytes -> array (zero copy) -> working resolution -> luminance: the engine's entry cost.
        img = np.frombuffer(raw[i % k], np.uint8).reshape(height, width, 3)
        small = np.ascontiguousarray(resize_to_width(img, ww))
        return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)

    grays = [convert(i) for i in range(k)]
    internal = [resize_to_width(g, internal_w) for g in grays]
    dis = cv2.DISOpticalFlow_create(_FLOW_PRESETS[config.tracking.embedded_flow])

    def flow(i: int) -> np.ndarray:
        # Backward flow current -> previous, like EmbeddedSegmenter.propagate.
        return dis.calc(internal[(i + 1) % k], internal[i % k], None)

    for fn in (decode, convert, flow):  # warm caches and OpenCV's thread pool
        _time(fn, 3)
    decode_ms = summarize_ms(_time(decode, frames))
    convert_ms = summarize_ms(_time(convert, frames))
    flow_ms = summarize_ms(_time(flow, frames))
    # The other presets, for the report: what a cheaper flow would buy.
    presets_ms = {}
    for name, preset in _FLOW_PRESETS.items():
        other = cv2.DISOpticalFlow_create(preset)
        presets_ms[name] = summarize_ms(_time(lambda i, o=other: o.calc(internal[(i + 1) % k], internal[i % k], None),
                                              max(10, frames // 3)))["p50"]
    floor = convert_ms["p50"] + flow_ms["p50"]
    floor_jpeg = decode_ms["p50"] + floor
    return {
        "resolution": f"{width}x{height}",
        "working_width": ww,
        "flow": {"preset": config.tracking.embedded_flow, "size": f"{internal[0].shape[1]}x{internal[0].shape[0]}"},
        "decode_jpeg_ms": decode_ms,
        "convert_ms": convert_ms,
        "flow_ms": flow_ms,
        "flow_p50_ms_by_preset": presets_ms,
        "best_fps": round(1000.0 / floor, 1) if floor > 0 else None,
        "best_fps_jpeg": round(1000.0 / floor_jpeg, 1) if floor_jpeg > 0 else None,
    }
