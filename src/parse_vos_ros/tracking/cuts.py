"""New objects cut ahead: a worker thread cuts the boxes of a keyframe's likely births on the
frame they were detected on (GrabCut, the segmenter's own colour model learnt there), and the frame
loop starts them a few frames later, each moved to the present by the flows computed since.

Arrays are at the segmenter's internal resolution (``h, w``) unless named otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from parse_vos_ros.tracking import refine

MOVE_SAMPLES = 2000  # a cut is moved by the flow read at about this many of its pixels


@dataclass(frozen=True)
class CutView:
    """One frame as ``EmbeddedSegmenter.cut`` needs it, at internal resolution; immutable, so a
    worker thread can cut boxes on it while the frame loop moves on."""

    index: int  # the frame's index in the stream
    rgb: np.ndarray  # (h, w, 3) uint8 RGB
    colour_index: np.ndarray  # (h, w) int32 colour bins (``refine.colour_index``)
    flow: np.ndarray | None  # (h, w, 2) float32 backward flow to the frame before (motion seeds), or None
    full_size: tuple[int, int]  # (W, H) of the frames the boxes are in


@dataclass(frozen=True)
class Cut:
    """A new object cut on frame ``index`` (``EmbeddedSegmenter.cut``), to start on a later frame."""

    index: int
    mask: np.ndarray  # (h, w) bool at internal resolution
    colours: refine.ColourModel  # learnt from the mask on that frame
    full_size: tuple[int, int]  # (W, H) of the frames it was cut for


def shifted(mask: np.ndarray, step: np.ndarray) -> np.ndarray:
    """An ``(h, w) bool`` mask moved by ``step`` = (dx, dy) pixels."""
    h, w = mask.shape
    move = np.float32([[1, 0, step[0]], [0, 1, step[1]]])
    return cv2.warpAffine(mask.view(np.uint8), move, (w, h), flags=cv2.INTER_NEAREST).astype(bool)


def cut_boxes(view: CutView, boxes: Mapping[int, np.ndarray], iterations: int, max_side: int,
              band_scale: float) -> dict[int, Cut]:
    """New objects cut from ``(4,)`` xyxy boxes (``view.full_size`` pixels) on ``view``'s frame:
    GrabCut (``iterations``, crop side at most ``max_side`` px) seeded by the pixels moving unlike
    the box's surroundings, and a colour model learnt from the cut and the background band around
    it (``band_scale``). ``{key: Cut}``; malformed boxes and empty cuts are left out. Reads only
    its arguments: safe in a worker thread."""
    h, w = view.rgb.shape[:2]
    out = {}
    for key, box in boxes.items():
        ibox = refine.scaled_box(box, w / view.full_size[0], w, h)
        if ibox is None:
            continue
        seed = None if view.flow is None else refine.motion_seed(view.flow, ibox)
        mask = refine.grabcut_box(view.rgb, ibox, iterations, seed, max_side)
        if mask.any():
            colours = refine.ColourModel(view.colour_index, mask, refine.background_band(mask, band_scale))
            out[key] = Cut(view.index, mask, colours, view.full_size)
    return out


def moved(cut: Cut, flows: Sequence[np.ndarray]) -> np.ndarray | None:
    """``cut``'s ``(h, w) bool`` mask moved through ``flows``, the ``(h, w, 2)`` backward flows of
    the frames after its own, oldest first: shifted, frame by frame, by the median flow where the
    mask lands (read twice, so it is read where the object is now). A shift, not a warp: a
    backward warp would leave a trail where the object uncovered the background. None when it
    moved out of the frame."""
    h, w = cut.mask.shape
    ys, xs = np.nonzero(cut.mask)
    every = max(1, len(xs) // MOVE_SAMPLES)
    ys, xs = ys[::every], xs[::every]
    total = np.zeros(2)
    for flow in flows:
        step = np.zeros(2)
        for _ in range(2):
            x = np.clip(np.round(xs + total[0] + step[0]).astype(int), 0, w - 1)
            y = np.clip(np.round(ys + total[1] + step[1]).astype(int), 0, h - 1)
            step = -np.median(flow[y, x], axis=0)  # backward flow: the object came from x + flow
        total += step
    mask = shifted(cut.mask, total)
    return mask if mask.any() else None
