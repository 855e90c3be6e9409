"""Fine pose verification with CLIP (transformers ``CLIPModel``), method step 5.

For each remaining candidate the engine hands over k crops from different keyframes. All crops of
all candidates go through the image tower in one batch; each candidate's embeddings are averaged
(then re-normalised) and compared by cosine with the embedding of the pose text (``pose.clip_prompt``
filled with it, e.g. "a photo of sitting with raised arm"). The text embedding is computed once per
pose text (i.e. once per command) and cached.

Scores are CLIP's zero-shot probabilities over the candidates: softmax of ``logit_scale * cosine``,
so they lie in [0, 1], sum to 1 and rank the candidates; the raw cosines of the last call are kept in
``last_cosines`` for the reasoning trace.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from parse_vos_ros.config import Config
from parse_vos_ros.models import require_model
from parse_vos_ros.torch_utils import load_local_model

LOG = logging.getLogger(__name__)

TEXT_CACHE_SIZE = 16  # distinct pose texts kept (a command has one; a few commands back is plenty)


def _valid_crop(crop: object) -> bool:
    return (
        isinstance(crop, np.ndarray)
        and crop.ndim == 3
        and crop.shape[2] == 3
        and crop.dtype == np.uint8
        and crop.shape[0] >= 1
        and crop.shape[1] >= 1
    )


def _pooled(features: object) -> torch.Tensor:
    """The projected embedding from a ``get_*_features`` result (a tensor, or an output whose
    ``pooler_output`` holds it, depending on the transformers version)."""
    return features if isinstance(features, torch.Tensor) else features.pooler_output


class ClipPoseVerifier:
    """Scores candidate tracks against the pose text with CLIP (implements ``PoseVerifier``)."""

    def __init__(
        self,
        model: torch.nn.Module,
        processor: object,
        *,
        device: torch.device,
        dtype: torch.dtype,
        prompt: str = "a photo of {}",
    ) -> None:
        self.model = model
        self.processor = processor
        self.device = device
        self.dtype = dtype
        self.prompt = prompt
        self._text_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.text_encodings = 0  # how many times the text tower ran (cache misses)
        self.last_cosines: dict[int, float] = {}

    @classmethod
    def from_config(cls, config: Config) -> ClipPoseVerifier:
        """Load ``pose.model_path`` (local files only); ``BackendLoadError`` when unusable."""
        path = require_model(config.pose.model_path, "clip", "pose.model_path")
        loaded = load_local_model("CLIPModel", path, "CLIP", config.device, with_processor=True)
        return cls(loaded.model, loaded.processor, device=loaded.device, dtype=loaded.dtype,
                   prompt=config.pose.clip_prompt)

    def text_embedding(self, pose_text: str) -> torch.Tensor:
        """``(D,)`` unit-norm embedding of the filled prompt, cached per pose text."""
        cached = self._text_cache.get(pose_text)
        if cached is not None:
            self._text_cache.move_to_end(pose_text)
            return cached
        tokens = self.processor.tokenizer(
            [self.prompt.format(pose_text.strip())], padding=True, truncation=True, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            emb = _pooled(self.model.get_text_features(**tokens))[0].float()
        emb = emb / emb.norm().clamp(min=1e-12)
        self.text_encodings += 1
        self._text_cache[pose_text] = emb
        while len(self._text_cache) > TEXT_CACHE_SIZE:
            self._text_cache.popitem(last=False)
        return emb

    def image_embeddings(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        """``(N, D)`` unit-norm embeddings of ``(h, w, 3) uint8`` RGB crops, one batch."""
        pixels = self.processor.image_processor(images=list(crops), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            emb = _pooled(self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype))).float()
        return emb / emb.norm(dim=1, keepdim=True).clamp(min=1e-12)

    def score(self, pose_text: str, crops: Mapping[int, Sequence[np.ndarray]], subject: str = "") -> dict[int, float]:
        """Probability in [0, 1] per track id that its crops show ``pose_text`` (sums to 1), of
        ``subject`` when given (the prompt names it: "a photo of dog sitting").

        Invalid crops (not ``(h, w, 3) uint8``, or empty) are skipped with a warning; a track left
        without any valid crop scores 0.
        """
        if not pose_text.strip():
            raise ValueError("pose text is empty")
        flat: list[np.ndarray] = []
        owner: list[int] = []
        for track_id, track_crops in crops.items():
            for crop in track_crops:
                if _valid_crop(crop):
                    flat.append(crop)
                    owner.append(int(track_id))
                else:
                    LOG.warning("clip: skipping invalid crop of track %s: %s", track_id, getattr(crop, "shape", crop))
        self.last_cosines = {}
        scored = sorted(set(owner))
        if not scored:
            return {int(t): 0.0 for t in crops}
        text = self.text_embedding(f"{subject.strip()} {pose_text.strip()}".strip())
        images = self.image_embeddings(flat)
        owners = torch.tensor(owner, device=images.device)
        means = torch.stack([images[owners == t].mean(dim=0) for t in scored])
        means = means / means.norm(dim=1, keepdim=True).clamp(min=1e-12)
        cosines = means @ text
        with torch.inference_mode():
            probs = torch.softmax(self.model.logit_scale.exp().float() * cosines, dim=0)
        self.last_cosines = {t: float(c) for t, c in zip(scored, cosines, strict=True)}
        result = {int(t): 0.0 for t in crops}
        result.update({t: float(p) for t, p in zip(scored, probs, strict=True)})
        return result
