"""Output: the frame result for the selected tracks, at the input resolution."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from parse_vos_ros.context.depth import DepthFrame, target_point
from parse_vos_ros.engine.commands import Command
from parse_vos_ros.engine.selection import Selection
from parse_vos_ros.geometry import mask_box, upscale_mask
from parse_vos_ros.tracking.store import TrackInfo
from parse_vos_ros.types import FrameResult, TargetPoint, TargetState


def target_points(depth: DepthFrame | None, masks: Mapping[int, np.ndarray],
                  medians: Mapping[int, float] | None = None) -> tuple[TargetPoint, ...]:
    """3D points of ``masks`` (``{track_id: (h, w) bool}`` at ``depth``'s size), those with enough
    depth; ``medians``: the median depth already measured under some of these masks on ``depth``."""
    if depth is None:
        return ()
    medians = medians or {}
    points = (target_point(depth, mask, tid, medians.get(tid)) for tid, mask in masks.items() if mask.any())
    return tuple(p for p in points if p is not None)


def union_at(masks: list[np.ndarray], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """The union of ``(h, w) bool`` ``masks`` upscaled to ``shape`` = (H, W), and its xyxy box
    (None when there is no mask)."""
    h, w = shape
    if not masks:
        return np.zeros((h, w), bool), None
    mask = upscale_mask(np.logical_or.reduce(masks), (w, h))
    return mask, mask_box(mask)


def frame_result(index: int, stamp: float, shape: tuple[int, int], keyframe: bool, command: Command | None,
                 selection: Selection, info: Mapping[int, TrackInfo], masks: Mapping[int, np.ndarray],
                 depth: DepthFrame | None, medians: Mapping[int, float] | None = None) -> FrameResult:
    """The result of frame ``index`` (input ``shape`` = (H, W)) for ``selection`` among the live
    tracks ``info`` with their working-resolution ``masks``; ``medians``: the median depth under
    each of these masks on ``depth`` where already measured."""
    if command is None:
        return FrameResult(index, stamp, TargetState.IDLE, np.zeros(shape, bool), None)
    ids = tuple(t for t in selection.track_ids if t in info)
    visible = {t: masks[t] for t in ids if t in masks and info[t].area > 0}
    if not ids:
        state = TargetState.NOT_FOUND if selection.not_found else TargetState.SEARCHING
    elif not visible:
        state = TargetState.LOST
    else:
        state = TargetState.AMBIGUOUS if selection.ambiguous else TargetState.TRACKING
    mask, box = union_at(list(visible.values()), shape)
    parsed = command.parsed
    trace = dict(selection.trace) if selection.trace else {"command": {"text": parsed.text, **parsed.to_dict()}}
    trace["keyframe"] = keyframe
    return FrameResult(index, stamp, state, mask, box, ids, selection.score, command.command_id, trace,
                       points=target_points(depth, visible, medians))
