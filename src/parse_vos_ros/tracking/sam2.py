"""SAM2 video tracking (transformers ``Sam2VideoModel``) as a streaming, memory-bounded segmenter.

One ``Sam2VideoInferenceSession`` is fed frame by frame (no video up front). Objects start from box
prompts on keyframes; every frame the model propagates all objects through its memory bank. Left
alone, the session keeps every frame's pixels and every frame's per-object memory forever, so this
backend prunes it after each step to what the model can still read:

- pixels: only the current frame (vision features of the current frame are cached by the session);
- tracked (non-conditioning) memories and object pointers: the last ``max(num_maskmem,
  max_object_pointers_in_encoder)`` frames, the furthest back the model looks;
- box-prompted (conditioning) memories: those inside the engine's sliding window, at most
  ``tracking.sam2_max_cond_frames`` per object, always the newest one;
- per-frame prompts and bookkeeping: the current frame only / the same horizon;
- the image-size high-resolution masks the model stores with each output are dropped once the
  memory encoder has used them.

So memory is flat over unlimited streams (see benchmarks/bench_paper_backends.py).

Pre/post-processing is written in torch here because transformers' SAM2 image processor needs
torchvision: frames are resized (bilinear, antialiased) to the model's square input, scaled to [0, 1]
and normalised with the ImageNet mean/std; boxes are scaled into that square; mask logits are
resized back bilinearly to the frame and thresholded, exactly the processor's documented steps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from parse_vos_ros.config import Config
from parse_vos_ros.models import require_model
from parse_vos_ros.torch_utils import load_local_model, tensor_bytes
from parse_vos_ros.types import FrameContext

LOG = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# SAM's prompt encoder labels a box as two corner points with these labels.
BOX_CORNER_LABELS = (2, 3)
# Keys of a per-frame output needed only inside the forward that produced them.
_TRANSIENT_KEYS = ("high_res_masks",)


def preprocess_frame(image: np.ndarray, size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``(H, W, 3) uint8`` RGB -> ``(3, size, size)`` normalised model input.

    Matches Sam2's image processor: bilinear antialiased resize of the uint8 image (result rounded
    to uint8 as torchvision does), rescale by 1/255, ImageNet mean/std normalisation.
    """
    x = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    x = x.round_().clamp_(0, 255).div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return ((x - mean) / std)[0].to(dtype)


def box_to_prompt(box: np.ndarray, image_hw: tuple[int, int], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A pixel xyxy box on an ``(H, W)`` frame -> SAM point prompt in the model's ``size`` square:
    coords ``(1, 1, 2, 2) float32`` (top-left, bottom-right), labels ``(1, 1, 2) int32`` (2, 3)."""
    h, w = image_hw
    scale = torch.tensor([size / w, size / h], dtype=torch.float32)
    coords = torch.as_tensor(np.asarray(box, dtype=np.float32).reshape(2, 2)) * scale
    labels = torch.tensor(BOX_CORNER_LABELS, dtype=torch.int32)
    return coords.view(1, 1, 2, 2), labels.view(1, 1, 2)


def postprocess_masks(logits: torch.Tensor, image_hw: tuple[int, int], threshold: float) -> np.ndarray:
    """``(N, 1, h, w)`` low-resolution mask logits -> ``(N, H, W) bool`` at the frame's resolution
    (bilinear resize, ``align_corners=False``, then ``logit > threshold``)."""
    up = F.interpolate(logits.float(), size=image_hw, mode="bilinear", align_corners=False)
    return (up[:, 0] > threshold).cpu().numpy()


def check_box(box: np.ndarray, image_hw: tuple[int, int], object_id: int) -> np.ndarray:
    """A validated ``(4,) float`` xyxy box clipped to the frame, at least one pixel wide and tall."""
    arr = np.asarray(box, dtype=np.float64).reshape(-1)
    if arr.shape != (4,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"object {object_id}: box must be 4 finite numbers xyxy, got {box!r}")
    h, w = image_hw
    x0, y0, x1, y1 = arr
    if x1 < x0 or y1 < y0:
        raise ValueError(f"object {object_id}: box {arr.tolist()} has x1 < x0 or y1 < y0")
    x0, x1 = np.clip([x0, x1], 0, w)
    y0, y1 = np.clip([y0, y1], 0, h)
    x0, y0 = min(x0, w - 1.0), min(y0, h - 1.0)
    return np.array([x0, y0, max(x1, x0 + 1.0), max(y1, y0 + 1.0)])


def check_image(image: np.ndarray) -> tuple[int, int]:
    """``(H, W)`` of a valid ``(H, W, 3) uint8`` frame, else ValueError."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = getattr(image, "shape", type(image))
        raise ValueError(f"frame must be an (H, W, 3) uint8 RGB array, got {got}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"frame is empty: {image.shape}")
    return int(image.shape[0]), int(image.shape[1])


class Sam2Segmenter:
    """Streaming SAM2 video segmentation with a bounded memory bank (implements ``Segmenter``)."""

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        device: torch.device,
        dtype: torch.dtype,
        window_s: float = 10.0,
        mask_threshold: float = 0.0,
        min_object_score: float = 0.0,
        max_cond_frames: int = 4,
    ) -> None:
        self.model = model
        self.device = device
        self.dtype = dtype
        self.window_s = window_s
        self.mask_threshold = mask_threshold
        self.min_object_score = min_object_score
        self.max_cond_frames = max_cond_frames
        cfg = model.config
        self.image_size = int(cfg.image_size)
        # The furthest back (in frames) the model reads tracked memories / object pointers.
        self.horizon = max(int(cfg.num_maskmem), int(cfg.max_object_pointers_in_encoder))
        self._session: object | None = None
        self._hw: tuple[int, int] | None = None
        self._next_idx = 0  # session frame index of the next new frame
        self._cur_idx: int | None = None  # session frame index of the last frame seen
        self._cur_key: tuple[int, float] | None = None  # (frame.index, frame.stamp) of that frame
        self._cur_pixels: torch.Tensor | None = None
        self._stamps: dict[int, float] = {}  # session frame index -> stamp, for frames with prompts

    @classmethod
    def from_config(cls, config: Config) -> Sam2Segmenter:
        """Load ``tracking.model_path`` (local files only); ``BackendLoadError`` when unusable."""
        path = require_model(config.tracking.model_path, "sam2", "tracking.model_path")
        loaded = load_local_model("Sam2VideoModel", path, "SAM2 video model", config.device)
        t = config.tracking
        return cls(
            loaded.model,
            device=loaded.device,
            dtype=loaded.dtype,
            window_s=config.engine.window_s,
            mask_threshold=t.sam2_mask_threshold,
            min_object_score=t.sam2_min_object_score,
            max_cond_frames=t.sam2_max_cond_frames,
        )

    # --- Segmenter protocol -------------------------------------------------------------------

    def propagate(self, frame: FrameContext) -> dict[int, np.ndarray]:
        """Masks of every live object on ``frame``: ``{object_id: (H, W) bool}``."""
        idx = self._enter(frame)
        session = self._session
        if session.get_obj_num() == 0:
            return {}
        with torch.inference_mode():
            out = self.model(inference_session=session, frame_idx=idx, frame=self._cur_pixels)
        masks = self._masks(out)
        self._prune(idx, frame.stamp)
        return masks

    def add_objects(self, frame: FrameContext, boxes: Mapping[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Start or re-anchor objects from pixel xyxy boxes on ``frame``; their masks on ``frame``.

        A re-anchored object's box becomes a fresh conditioning (keyframe) memory: its tracked
        output on this frame is discarded so the model treats the box as a new prompt.
        """
        if not boxes:
            return {}
        idx = self._enter(frame)
        session = self._session
        checked = {int(oid): check_box(box, self._hw, int(oid)) for oid, box in boxes.items()}
        for oid, box in checked.items():
            obj_idx = session.obj_id_to_idx(oid)
            session.output_dict_per_obj[obj_idx]["non_cond_frame_outputs"].pop(idx, None)
            session.frames_tracked_per_obj[obj_idx].pop(idx, None)
            coords, labels = box_to_prompt(box, self._hw, self.image_size)
            session.add_point_inputs(obj_idx, idx, {"point_coords": coords, "point_labels": labels})
            session.remove_mask_inputs(obj_idx, idx)
        session.obj_with_new_inputs = list(checked)
        self._stamps[idx] = frame.stamp
        with torch.inference_mode():
            out = self.model(inference_session=session, frame_idx=idx, frame=self._cur_pixels)
        masks = self._masks(out)
        self._prune(idx, frame.stamp)
        return {oid: masks[oid] for oid in checked}

    def remove_objects(self, object_ids: Iterable[int]) -> None:
        """Forget these objects; unknown ids are ignored."""
        session = self._session
        if session is None:
            return
        drop = {int(o) for o in object_ids} & set(session.obj_ids)
        if not drop:
            return
        keep = [o for o in session.obj_ids if o not in drop]
        if not keep:
            session.reset_tracking_data()
            return
        # The session has no removal API and indexes objects 0..n-1 in every per-object table;
        # rebuild the tables for the remaining objects in their original order.
        old_idx = [session.obj_id_to_idx(o) for o in keep]
        for table in (
            session.point_inputs_per_obj,
            session.mask_inputs_per_obj,
            session.output_dict_per_obj,
            session.frames_tracked_per_obj,
        ):
            kept = [table[i] for i in old_idx]
            table.clear()
            table.update(enumerate(kept))
        session._obj_id_to_idx.clear()
        session._obj_idx_to_id.clear()
        for new_idx, oid in enumerate(keep):
            session._obj_id_to_idx[oid] = new_idx
            session._obj_idx_to_id[new_idx] = oid
        session.obj_ids = list(keep)
        session.obj_with_new_inputs = [o for o in session.obj_with_new_inputs if o not in drop]

    def reset(self) -> None:
        """Forget everything (new stream, resolution change)."""
        self._session = None
        self._hw = None
        self._next_idx = 0
        self._cur_idx = None
        self._cur_key = None
        self._cur_pixels = None
        self._stamps.clear()

    # --- diagnostics --------------------------------------------------------------------------

    @property
    def object_ids(self) -> list[int]:
        """Ids of the live objects, in the order they were added."""
        return list(self._session.obj_ids) if self._session is not None else []

    def memory_stats(self) -> dict[str, int]:
        """What the session holds: stored frames, memories per kind, and tensor bytes."""
        s = self._session
        if s is None:
            return {"frames": 0, "cond_memories": 0, "tracked_memories": 0, "prompts": 0, "bytes": 0}
        outs = s.output_dict_per_obj.values()
        return {
            "frames": len(s.processed_frames or {}),
            "cond_memories": sum(len(o["cond_frame_outputs"]) for o in outs),
            "tracked_memories": sum(len(o["non_cond_frame_outputs"]) for o in outs),
            "prompts": sum(len(p) for p in s.point_inputs_per_obj.values()),
            "bytes": tensor_bytes(
                [s.processed_frames, s.output_dict_per_obj, s.point_inputs_per_obj, s.cache._vision_features]
            ),
        }

    # --- internals ----------------------------------------------------------------------------

    def _enter(self, frame: FrameContext) -> int:
        """The session frame index of ``frame``, adding it (preprocessed) when it is new."""
        hw = check_image(frame.image)
        if self._session is not None and hw != self._hw:
            LOG.info("sam2: frame size changed %s -> %s; starting a new session", self._hw, hw)
            self.reset()
        if self._session is None:
            from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

            self._session = Sam2VideoInferenceSession(
                video_height=hw[0],
                video_width=hw[1],
                inference_device=self.device,
                inference_state_device=self.device,
                video_storage_device=self.device,
                dtype=self.dtype,
            )
            self._hw = hw
        key = (frame.index, frame.stamp)
        if key == self._cur_key and self._cur_idx is not None:
            return self._cur_idx
        idx = self._next_idx
        self._next_idx += 1
        self._cur_idx, self._cur_key = idx, key
        self._cur_pixels = preprocess_frame(frame.image, self.image_size, self.device, self.dtype)
        # Stored now so add_objects works on a frame without objects to propagate yet; the
        # model's forward re-stores the same tensor under the same index.
        self._session.add_new_frame(self._cur_pixels, idx)
        self._drop_old_frames(idx)
        return idx

    def _masks(self, out: object) -> dict[int, np.ndarray]:
        """Full-resolution masks per object id from a model output; hidden objects get empty masks."""
        masks = postprocess_masks(out.pred_masks, self._hw, self.mask_threshold)
        present = (out.object_score_logits.float().reshape(-1) > self.min_object_score).cpu().numpy()
        masks &= present[:, None, None]
        return {int(oid): masks[i] for i, oid in enumerate(out.object_ids)}

    def _drop_old_frames(self, idx: int) -> None:
        frames = self._session.processed_frames
        for old in [f for f in frames if f != idx]:
            del frames[old]

    def _prune(self, idx: int, stamp: float) -> None:
        """Bound the session to what the model can still read (see the module docstring)."""
        s = self._session
        self._drop_old_frames(idx)
        oldest_tracked = idx - self.horizon
        window_start = stamp - self.window_s
        for obj_idx, outputs in s.output_dict_per_obj.items():
            tracked = outputs["non_cond_frame_outputs"]
            for f in [f for f in tracked if f <= oldest_tracked]:
                del tracked[f]
            # Tracked outputs are read later only for their memory and object pointer.
            current = tracked.get(idx)
            if current is not None:
                current.pop("pred_masks", None)
            cond = outputs["cond_frame_outputs"]
            newest_first = sorted(cond, reverse=True)
            keep = set(newest_first[:1])  # the model needs at least one conditioning memory
            keep.update(f for f in newest_first[: self.max_cond_frames] if self._stamps[f] >= window_start)
            for f in [f for f in cond if f not in keep]:
                del cond[f]
            for f, out in cond.items():
                if f != idx:  # a past prompt's masks are never re-read, only its memory and pointer
                    out.pop("pred_masks", None)
            for out in (cond.get(idx), current):
                if out is not None:
                    for k in _TRANSIENT_KEYS:
                        out.pop(k, None)
            frames_tracked = s.frames_tracked_per_obj[obj_idx]
            for f in [f for f in frames_tracked if f <= oldest_tracked]:
                del frames_tracked[f]
            for prompts in (s.point_inputs_per_obj[obj_idx], s.mask_inputs_per_obj[obj_idx]):
                for f in [f for f in prompts if f < idx]:
                    del prompts[f]
        live = {f for o in s.output_dict_per_obj.values() for f in o["cond_frame_outputs"]}
        for f in [f for f in self._stamps if f not in live and f != idx]:
            del self._stamps[f]
