"""Weight-free mask propagation: one dense optical flow per frame warps every object's mask, then
a per-object refinement (spatial prior + colour model + motion coherence) snaps it to the object.

All work happens at an internal width (``tracking.embedded_width``, ~320 px); masks are returned at
the frame's full resolution. State per object is a fixed-size mask at internal resolution plus two
colour histograms, so memory is bounded by the number of live objects, not the stream length.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from parse_vos_ros.config import Config
from parse_vos_ros.geometry import box_iou, downscale_mask, mask_box
from parse_vos_ros.tracking import refine
from parse_vos_ros.tracking.cuts import Cut, CutView, cut_boxes, moved
from parse_vos_ros.types import FrameContext

LOG = logging.getLogger(__name__)

REANCHOR_COLOUR_RATE = 0.5  # weight of a re-anchoring view in the object's colour model
# Backward flows kept to carry a mask made on an earlier frame to the present (``carry``): about
# 0.5 s at 30 fps, 16 x (h, w, 2) float32 at the internal size (4.7 MB at 256x144).
FLOW_LOG_FRAMES = 16


@dataclass
class _Object:
    """One propagated object at internal resolution."""

    mask: np.ndarray  # (h, w) bool, the object's mask on the last processed frame
    colours: refine.ColourModel
    # Occlusion memory: the last full view of the object and its velocity, so that an object
    # that vanished behind an occluder is picked up again where it should re-emerge.
    ref_area: float = 0.0  # slowly decaying peak of the visible area, internal pixels
    velocity: tuple[float, float] | None = None  # image-space motion, internal px per frame
    ghost: np.ndarray | None = None  # (h, w) bool last full view, where it was seen
    ghost_age: int = 0  # frames since then; the ghost is predicted at velocity * ghost_age


def upscaled(mask: np.ndarray, full_size: tuple[int, int]) -> np.ndarray:
    """Internal ``(h, w) bool`` -> ``(H, W) bool`` at ``full_size`` = (W, H), with smooth
    (interpolated) edges."""
    if not mask.any():
        return np.zeros(full_size[::-1], bool)
    soft = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0)
    return cv2.resize(soft, full_size, interpolation=cv2.INTER_LINEAR) > 0.5


@dataclass(frozen=True)
class SegmenterParams:
    """Tuning of the embedded segmenter; the first ones are ``tracking.embedded_*`` config keys."""

    width: int = 320  # internal width in pixels (0 = the frame's)
    flow_preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM  # DIS optical flow preset
    grabcut_iterations: int = 3  # GrabCut iterations for a box without a usable mask
    grabcut_side: int = 240  # GrabCut crop is downscaled to at most this many pixels a side
    colour_weight: float = 0.8  # weight of the colour log-odds (the shape prior has weight 1)
    motion_weight: float = 0.5  # weight of the motion-coherence log-odds
    motion_seed: bool = True  # seed GrabCut with pixels moving unlike the box's surroundings
    max_objects: int = 64  # hard cap on live objects (engine.max_tracks)
    boundary_px: float = 2.0  # distance in internal pixels over which the shape prior reaches 1 logit
    band_scale: float = 0.25  # decision band half-width = this x sqrt(mask area), clipped to [3, 24] px
    colour_rate: float = 0.0  # per-frame learning rate of the foreground colours (0: keep the first view)
    bg_colour_rate: float = 0.1  # per-frame learning rate of the surrounding background colours
    reanchor_iou: float = 0.5  # a new box agreeing this much with the mask keeps the propagated mask
    occluded_fraction: float = 0.6  # visible area below this x its peak counts as occluded
    reappear_fraction: float = 0.3  # colour support covering this x the last full view revives it
    ghost_frames: int = 45  # the last full view is remembered this many frames


class EmbeddedSegmenter:
    """Optical-flow mask propagation with colour/motion refinement (implements ``Segmenter``)."""

    def __init__(self, params: SegmenterParams | None = None) -> None:
        self.params = params or SegmenterParams()
        self._flow = cv2.DISOpticalFlow_create(self.params.flow_preset)
        self._objects: dict[int, _Object] = {}
        self._full_size: tuple[int, int] | None = None  # (W, H) of the camera frames
        self._size: tuple[int, int] | None = None  # (w, h) internal
        self._prev_gray: np.ndarray | None = None  # (h, w) uint8 internal, last processed frame
        self._last_index: int | None = None
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        # Per-frame shared products at internal resolution, computed once for all objects.
        self._rgb: np.ndarray | None = None
        self._gray: np.ndarray | None = None
        self._index: np.ndarray | None = None
        self._init_flow_cache: tuple[int, np.ndarray] | None = None
        self._flows: deque[tuple[int, np.ndarray]] = deque(maxlen=FLOW_LOG_FRAMES)  # (frame index, flow)
        self._cut_from: int | None = None  # the newest frame a ``cut_view`` was taken on

    @classmethod
    def from_config(cls, config: Config) -> EmbeddedSegmenter:
        """Build from ``config.tracking`` (``embedded_*`` keys) and ``engine.max_tracks``."""
        t = config.tracking
        presets = {
            "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        }
        return cls(
            SegmenterParams(
                width=t.embedded_width,
                flow_preset=presets[t.embedded_flow],
                grabcut_iterations=t.embedded_grabcut_iterations,
                grabcut_side=t.embedded_grabcut_side,
                colour_weight=t.embedded_colour_weight,
                motion_weight=t.embedded_motion_weight,
                motion_seed=t.embedded_motion_seed,
                max_objects=config.engine.max_tracks,
            )
        )

    # ----------------------------------------------------------------- frame handling
    def _prepare(self, frame: FrameContext) -> None:
        """Downscale ``frame`` once (idempotent per frame index); reset on a resolution change."""
        image = frame.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"EmbeddedSegmenter expects (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        full = (int(image.shape[1]), int(image.shape[0]))
        if full != self._full_size:
            if self._full_size is not None:
                LOG.info("frame size changed %s -> %s: forgetting %d objects", self._full_size, full,
                         len(self._objects))
            self.reset()
            self._full_size = full
            w = min(self.params.width, full[0]) if self.params.width > 0 else full[0]
            h = max(1, round(full[1] * w / full[0]))
            self._size = (w, h)
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = (gx, gy)
        if self._last_index == frame.index and self._rgb is not None:
            return
        assert self._size is not None
        self._rgb = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._gray = cv2.cvtColor(self._rgb, cv2.COLOR_RGB2GRAY)
        self._index = refine.colour_index(self._rgb)

    def _to_internal(self, box: np.ndarray) -> tuple[int, int, int, int]:
        assert self._full_size is not None and self._size is not None
        ibox = refine.scaled_box(box, self._size[0] / self._full_size[0], *self._size)
        if ibox is None:
            raise ValueError(f"invalid box {box!r}: need finite xyxy with x1 > x0 and y1 > y0")
        return ibox

    def _upscale(self, mask: np.ndarray) -> np.ndarray:
        """Internal ``(h, w) bool`` -> full ``(H, W) bool`` (``upscaled``)."""
        assert self._full_size is not None
        return upscaled(mask, self._full_size)

    # ----------------------------------------------------------------- Segmenter API
    def propagate(self, frame: FrameContext) -> dict[int, np.ndarray]:
        """Masks of every live object on ``frame``: ``{object_id: (H, W) bool}``.

        Calling it twice for the same ``frame.index`` returns the same masks without re-warping.
        """
        self._prepare(frame)
        assert self._gray is not None
        if self._last_index == frame.index:
            return {oid: self._upscale(o.mask) for oid, o in self._objects.items()}
        prev_index = self._last_index
        prev_gray, self._prev_gray, self._last_index = self._prev_gray, self._gray, frame.index
        if not (self._objects or self.awaiting_cuts) or prev_gray is None:
            return {oid: self._upscale(o.mask) for oid, o in self._objects.items()}
        # Backward flow (current -> previous): cur(x) ~ prev(x + flow(x)), so remapping the
        # previous mask at x + flow(x) places it on the current frame without holes.
        flow = self._flow.calc(self._gray, prev_gray, None)
        if prev_index == frame.index - 1:
            # The flow new objects on this frame need (``_init_flow``): one DIS call less per keyframe.
            self._init_flow_cache = (frame.index, flow)
            self._flows.append((frame.index, flow))
        else:
            self._flows.clear()  # a gap: no mask can be carried across it
        assert self._grid is not None
        map_x, map_y = self._grid[0] + flow[..., 0], self._grid[1] + flow[..., 1]
        # An object moves at most this far: each mask is warped inside its box grown by it only.
        reach = int(np.ceil(np.abs(flow).max())) + 2
        h, w = flow.shape[:2]
        out = {}
        for oid, obj in self._objects.items():
            warped = np.zeros((h, w), bool)
            box = mask_box(obj.mask)
            if box is not None:
                x0, y0 = max(0, int(box[0]) - reach), max(0, int(box[1]) - reach)
                x1, y1 = min(w, int(box[2]) + reach), min(h, int(box[3]) + reach)
                warped[y0:y1, x0:x1] = cv2.remap(obj.mask.astype(np.float32), map_x[y0:y1, x0:x1],
                                                 map_y[y0:y1, x0:x1], cv2.INTER_LINEAR,
                                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0.0) > 0.5
            prev_mask = obj.mask
            obj.mask = self._refine(obj, warped, flow) if warped.any() else warped
            self._track_occlusion(obj, prev_mask)
            out[oid] = self._upscale(obj.mask)
        return out

    def _track_occlusion(self, obj: _Object, prev_mask: np.ndarray) -> None:
        """Keep the occlusion memory up to date; revive the object from it when it re-emerges.

        A full view (area near its peak, stable since the last frame) refreshes the ghost and the
        velocity (silhouette centroid motion: flow inside weakly textured objects is near zero).
        Once the visible area falls below ``occluded_fraction`` of the peak, the pixels inside the
        predicted ghost that the colour model calls foreground are tested each frame; when they
        cover ``reappear_fraction`` of the ghost they join the mask.
        """
        p = self.params
        area, prev_area = float(obj.mask.sum()), float(prev_mask.sum())
        if area >= p.occluded_fraction * obj.ref_area:
            # Slowly decaying peak: sliding behind an occluder still reads as occlusion, while a
            # real change of size (moving away) is followed within a few seconds.
            obj.ref_area = max(area, 0.98 * obj.ref_area)
        if area >= 16 and area >= 0.92 * obj.ref_area and abs(area - prev_area) <= 0.05 * prev_area:
            ys, xs = np.nonzero(obj.mask)
            pys, pxs = np.nonzero(prev_mask)
            step = (float(xs.mean() - pxs.mean()), float(ys.mean() - pys.mean()))
            v = obj.velocity
            obj.velocity = step if v is None else (0.6 * v[0] + 0.4 * step[0], 0.6 * v[1] + 0.4 * step[1])
            obj.ghost, obj.ghost_age = obj.mask, 0
            return
        if obj.ghost is None or obj.velocity is None:
            return
        obj.ghost_age += 1
        if obj.ghost_age > p.ghost_frames:
            obj.ghost = None
            return
        if area >= p.occluded_fraction * obj.ref_area:
            return
        h, w = obj.mask.shape
        shift = np.float32([[1, 0, obj.velocity[0] * obj.ghost_age], [0, 1, obj.velocity[1] * obj.ghost_age]])
        ghost = cv2.warpAffine(obj.ghost.astype(np.uint8), shift, (w, h), flags=cv2.INTER_NEAREST).astype(bool)
        if not ghost.any():
            obj.ghost = None  # predicted out of the frame
            return
        assert self._index is not None
        # The prediction's uncertainty grows with the time hidden (speed changes behind the
        # occluder): search a band around the predicted ghost that widens with age.
        speed = float(np.hypot(*obj.velocity))
        radius = int(min(2 + 0.25 * obj.ghost_age * (speed + 1.0), 0.5 * np.sqrt(ghost.sum()) + 2))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        region = cv2.dilate(ghost.astype(np.uint8), kernel).astype(bool)
        # Strong colour evidence only: a wrong revival (on the occluder) is worse than a late one.
        support = (region & (obj.colours.log_ratio(self._index) > 1.0)).astype(np.uint8)
        support = cv2.morphologyEx(support, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(support, connectivity=8)
        if n < 2:
            return
        best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        found = float(stats[best, cv2.CC_STAT_AREA])
        if found >= p.reappear_fraction * float(ghost.sum()) and found > area:
            obj.mask = (labels == best) | obj.mask

    def add_objects(self, frame: FrameContext, boxes: Mapping[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Start new objects, or re-anchor existing ones, from ``(4,)`` xyxy pixel boxes.

        A known object whose mask box still agrees with the new box (IoU >= ``reanchor_iou``) keeps
        its propagated mask, clipped to the box with a margin; otherwise GrabCut re-segments the box
        (seeded with the old mask when there is one). Raises ``ValueError`` on malformed boxes.
        """
        self._prepare(frame)
        assert self._rgb is not None and self._index is not None and self._size is not None
        if self._last_index != frame.index:
            # A frame the segmenter has not propagated: it becomes the flow reference from now on.
            self._prev_gray, self._last_index = self._gray, frame.index
        parsed = {oid: self._to_internal(box) for oid, box in boxes.items()}  # validate all first
        out = {}
        w, h = self._size
        for oid, ibox in parsed.items():
            if oid not in self._objects and len(self._objects) >= self.params.max_objects:
                raise ValueError(f"too many objects: at most {self.params.max_objects} (engine.max_tracks)")
            obj = self._objects.get(oid)
            mask = None
            if obj is not None and obj.mask.any():
                old_box = mask_box(obj.mask)
                assert old_box is not None
                if box_iou(old_box, np.asarray(ibox, np.float64)) >= self.params.reanchor_iou:
                    x0, y0, x1, y1 = ibox
                    mx, my = max(2, (x1 - x0) // 8), max(2, (y1 - y0) // 8)
                    clip = np.zeros((h, w), bool)
                    clip[max(0, y0 - my):y1 + my, max(0, x0 - mx):x1 + mx] = True
                    mask = obj.mask & clip
                    if mask.sum() < 0.15 * (x1 - x0) * (y1 - y0):
                        mask = None
            if mask is None:
                seed = obj.mask if obj is not None else None
                if seed is None and self.params.motion_seed:
                    flow = self._init_flow(frame)
                    seed = None if flow is None else refine.motion_seed(flow, ibox)
                mask = refine.grabcut_box(self._rgb, ibox, self.params.grabcut_iterations, seed,
                                          self.params.grabcut_side)
            bg = refine.background_band(mask, self.params.band_scale)
            if obj is None:
                self._objects[oid] = _Object(mask=mask, colours=refine.ColourModel(self._index, mask, bg))
            else:
                obj.mask = mask
                obj.colours.update(self._index, mask, bg, rate=REANCHOR_COLOUR_RATE)
            out[oid] = self._upscale(mask)
        return out

    def set_masks(self, frame: FrameContext, masks: Mapping[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Re-anchor live objects on ``frame`` to given ``(H, W) bool`` masks (frame resolution).

        The keyframe re-anchoring entry for masks from a better segmenter (DeepLab): the mask
        replaces the propagated one, the object's colour model learns from it, and its occlusion
        memory restarts from this view. Unknown ids and empty masks are ignored (nothing to
        anchor). Returns the masks actually set: ``{object_id: (H, W) bool}``.

        Raises:
            ValueError: a mask's shape is not the frame's.
        """
        self._prepare(frame)
        assert self._index is not None and self._size is not None and self._full_size is not None
        if self._last_index != frame.index:
            self._prev_gray, self._last_index = self._gray, frame.index
        full_hw = self._full_size[::-1]
        for oid, mask in masks.items():
            if mask.shape != full_hw:
                raise ValueError(f"mask of object {oid} has shape {mask.shape}, the frame is {full_hw}")
        out = {}
        for oid, mask in masks.items():
            obj = self._objects.get(oid)
            if obj is None or not mask.any():
                continue
            small = downscale_mask(mask, self._size)
            if not small.any():
                continue
            obj.mask = small
            obj.colours.update(self._index, small, refine.background_band(small, self.params.band_scale),
                              rate=REANCHOR_COLOUR_RATE)
            obj.ref_area = float(small.sum())
            obj.ghost, obj.ghost_age = small, 0
            out[oid] = self._upscale(small)
        return out

    def carry(self, object_id: int, mask: np.ndarray, since: int, then: np.ndarray) -> np.ndarray | None:
        """A ``(H, W) bool`` mask of object ``object_id`` made on frame ``since`` (a late keyframe
        mask) moved to the newest propagated frame through the dense flows of every frame in
        between: the warps that carried the object's own mask, so the mask follows the object's
        deformation, not only its centroid.

        A backward warp leaves behind what the object uncovered (background keeps its place, so it
        samples the object's old pixels). ``then``, the object's propagated ``(H, W) bool`` mask
        on frame ``since``, is warped the same way: where it says object and the object's mask now
        (warp plus refinement, frame by frame) says not, the warp erred, and the carried mask loses
        those pixels too. Everywhere else the carried mask keeps what the better model saw.

        None when a flow of that span is not kept (``_flows_since``), the object is unknown, or a
        mask is not of the frame size.
        """
        obj = self._objects.get(object_id)
        if obj is None or self._size is None or self._full_size is None:
            return None
        if mask.shape != self._full_size[::-1] or then.shape != mask.shape:
            return None
        flows = self._flows_since(since)
        if flows is None:
            return None
        assert self._grid is not None
        found, prior = downscale_mask(mask, self._size), downscale_mask(then, self._size)
        for flow in flows:
            map_x, map_y = self._grid[0] + flow[..., 0], self._grid[1] + flow[..., 1]
            found, prior = (cv2.remap(m.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0.0) > 0.5 for m in (found, prior))
        return self._upscale(found & ~(prior & ~obj.mask))

    def _flows_since(self, since: int) -> list[np.ndarray] | None:
        """The kept backward flows of frames ``since + 1`` .. the newest, None when one is missing
        (older than ``FLOW_LOG_FRAMES`` frames, a gap, a frame propagated without objects)."""
        flows = [(i, f) for i, f in self._flows if i > since]
        if not flows or flows[0][0] != since + 1 or flows[-1][0] != self._last_index:
            return None
        return [f for _, f in flows]

    def cut_view(self, frame: FrameContext) -> CutView:
        """What ``cut`` needs of ``frame`` (after it was propagated), taken on the frame loop so a
        worker thread can cut boxes on this frame later while the loop moves on. Until the cuts
        can no longer be moved (``FLOW_LOG_FRAMES``), the next frames' flows are kept even
        without objects (``awaiting_cuts``): the first objects of an empty scene are cut ahead
        too."""
        self._prepare(frame)
        assert self._rgb is not None and self._index is not None and self._full_size is not None
        if self._last_index != frame.index:
            # A frame the segmenter has not propagated (no objects): the next flow starts here.
            self._prev_gray, self._last_index = self._gray, frame.index
        self._cut_from = frame.index
        flow = self._init_flow(frame) if self.params.motion_seed else None
        return CutView(frame.index, self._rgb, self._index, flow, self._full_size)

    @property
    def awaiting_cuts(self) -> bool:
        """Cuts of the last ``cut_view`` may still come to start (until ``cuts_landed``, at most
        ``FLOW_LOG_FRAMES`` frames): ``propagate`` keeps each frame's flow even without objects
        (each costs one optical flow)."""
        return (self._cut_from is not None and self._last_index is not None
                and self._last_index - self._cut_from < FLOW_LOG_FRAMES)

    def cuts_landed(self) -> None:
        """The cuts of the last ``cut_view`` were applied (started or not): flows are kept for
        objects only again."""
        self._cut_from = None

    def cut(self, view: CutView, boxes: Mapping[int, np.ndarray]) -> dict[int, Cut]:
        """New objects cut from ``(4,)`` xyxy pixel boxes on ``view``'s frame as ``add_objects``
        cuts a box without a mask (``cuts.cut_boxes``). Reads only ``view`` and the parameters,
        so a worker thread may call it while the frame loop propagates."""
        p = self.params
        return cut_boxes(view, boxes, p.grabcut_iterations, p.grabcut_side, p.band_scale)

    def start_objects(self, frame: FrameContext, cuts: Mapping[int, Cut]) -> dict[int, np.ndarray]:
        """Start new objects on ``frame``, the newest propagated one, from ``cut``s of an earlier
        frame, each moved here through the flows kept since (``moved_cut``) with the colour model
        learnt where it was cut. Known ids, cuts that cannot be moved (``moved_cut`` is None) and
        objects over ``max_objects`` are left out. Returns the masks of the objects started:
        ``{object_id: (H, W) bool}``."""
        self._prepare(frame)
        if self._last_index != frame.index:
            return {}  # the flows end on another frame
        out = {}
        for oid, cut in cuts.items():
            if oid in self._objects or len(self._objects) >= self.params.max_objects:
                continue
            mask = self.moved_cut(cut)
            if mask is not None:
                self._objects[oid] = _Object(mask=mask, colours=cut.colours)
                out[oid] = self._upscale(mask)
        return out

    def moved_cut(self, cut: Cut) -> np.ndarray | None:
        """``cut``'s ``(h, w) bool`` mask moved to the newest propagated frame by the flows kept
        since (``cuts.moved``). None when a flow of that span is not kept, the cut is of another
        frame size, or it moved out of the frame."""
        if self._size is None or cut.full_size != self._full_size or cut.mask.shape != self._size[::-1]:
            return None
        flows = self._flows_since(cut.index)
        return None if flows is None else moved(cut, flows)

    def _init_flow(self, frame: FrameContext) -> np.ndarray | None:
        """``(h, w, 2)`` flow of ``frame`` against ``frame.prev_gray`` at internal size, cached per frame.

        Backward flow like ``propagate``'s (which leaves its own flow here when it warped from the
        frame just before); None on a first frame. Only new objects need it.
        """
        if self._init_flow_cache is not None and self._init_flow_cache[0] == frame.index:
            return self._init_flow_cache[1]
        prev = frame.prev_gray
        if prev is None or prev.shape != frame.image.shape[:2]:
            return None
        assert self._size is not None and self._gray is not None
        small = cv2.resize(prev, self._size, interpolation=cv2.INTER_AREA)
        flow = self._flow.calc(self._gray, small, None)
        self._init_flow_cache = (frame.index, flow)
        return flow

    def remove_objects(self, object_ids: Iterable[int]) -> None:
        """Forget these objects; unknown ids are ignored."""
        for oid in object_ids:
            self._objects.pop(oid, None)

    def reset(self) -> None:
        """Forget every object and the previous frame (the frame size is re-learned)."""
        self._objects.clear()
        self._prev_gray = None
        self._last_index = None
        self._rgb = self._gray = self._index = None
        self._init_flow_cache = None
        self._flows.clear()
        self._cut_from = None
        self._full_size = None

    @property
    def object_ids(self) -> tuple[int, ...]:
        """Ids of the live objects."""
        return tuple(self._objects)

    # ----------------------------------------------------------------- refinement
    def _refine(self, obj: _Object, warped: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """Snap the flow-warped mask to the object on the current frame.

        Decides pixels only in a band around ``warped`` (inside an ROI, for speed) by the sign of
        ``prior + colour_weight * colour + motion_weight * motion`` log-odds, where ``prior`` is the
        signed distance to the warped boundary over ``boundary_px``.
        """
        p = self.params
        assert self._index is not None
        h, w = warped.shape
        band = refine.band_px(warped, self.params.band_scale)
        box = mask_box(warped)
        assert box is not None
        m = 2 * band + 2
        x0, y0 = max(0, int(box[0]) - m), max(0, int(box[1]) - m)
        x1, y1 = min(w, int(box[2]) + m), min(h, int(box[3]) + m)
        roi = (slice(y0, y1), slice(x0, x1))
        wm, idx, fl = warped[roi], self._index[roi], flow[roi]
        sd = refine.signed_distance(wm)
        logit = np.clip(sd / p.boundary_px, -band / p.boundary_px, band / p.boundary_px)
        logit += p.colour_weight * obj.colours.log_ratio(idx)
        near_bg = (sd < 0) & (sd >= -2 * band)
        if p.motion_weight > 0:
            logit += p.motion_weight * refine.motion_log_ratio(fl, sd > 1, near_bg)
        local = (logit > 0) & (sd > -band)
        local = cv2.morphologyEx(local.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
        local = refine.keep_supported_components(local, sd > min(band, 0.5 * float(sd.max())))
        local = refine.fill_holes(local, max_hole_px=max(16, int(0.02 * local.sum())))
        mask = np.zeros((h, w), bool)
        mask[roi] = local
        if mask.any():
            # Background colours are sampled beyond the decision band only: pixels the object may
            # still cover would teach the model that the object's colours are background.
            outer = (sd < -band) & (sd >= -2 * band)
            obj.colours.update(idx, local, outer, p.colour_rate, p.bg_colour_rate)
        return mask
