"""GroundingDINO open-vocabulary detection (transformers ``GroundingDinoForObjectDetection``).

The candidate phrases become one prompt, ``"dog. red car."`` (lower case, "." separated, capped in
characters and in text tokens). The processor's grounded post-processing gives boxes in pixel xyxy
of the original frame and their scores; each box is then given the candidate phrase whose tokens it
matches best (max token probability over the phrase's token span, which must exceed the text
threshold), so a detection always carries one of the caller's phrases, never a token soup.
Duplicates of the same phrase are suppressed by IoU (torch, no torchvision).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np
import torch

from parse_vos_ros.config import Config
from parse_vos_ros.models import require_model
from parse_vos_ros.torch_utils import load_local_model
from parse_vos_ros.types import Detection, FrameContext

LOG = logging.getLogger(__name__)


def clean_phrase(phrase: str) -> str:
    """Lower case, no dots (they separate phrases in the prompt), single spaces."""
    return re.sub(r"\s+", " ", phrase.replace(".", " ")).strip().lower()


def build_prompt(phrases: Sequence[str], max_chars: int) -> tuple[str, list[tuple[str, int, int]]]:
    """The GroundingDINO prompt for ``phrases`` and each kept phrase's character span in it.

    Returns ``(prompt, [(original_phrase, start, end), ...])``. Phrases are de-duplicated after
    cleaning; phrases that would push the prompt past ``max_chars`` are left out (the first one is
    cut at a word boundary instead, so the prompt is never empty); empty phrases are skipped.
    """
    parts: list[str] = []
    spans: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    length = 0
    for original in phrases:
        text = clean_phrase(original)
        if not text or text in seen:
            continue
        start = length + (1 if parts else 0)  # a space after the previous "."
        if start + len(text) + 1 > max_chars:
            if parts:
                LOG.warning("groundingdino: prompt capped at %d chars; dropped phrase %r", max_chars, original)
                continue
            text = text[: max_chars - 1].rsplit(" ", 1)[0] if " " in text[: max_chars - 1] else text[: max_chars - 1]
            LOG.warning("groundingdino: phrase %r cut to %r (prompt cap %d chars)", original, text, max_chars)
        seen.add(text)
        parts.append(text + ".")
        spans.append((original, start, start + len(text)))
        length = start + len(text) + 1
    return " ".join(parts), spans


def token_spans(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[str, int, int]]) -> list[list[int]]:
    """For each character span, the indices of the tokens inside it (special tokens have (0, 0))."""
    out = []
    for _, start, end in spans:
        out.append([i for i, (a, b) in enumerate(offsets) if b > a and a >= start and b <= end])
    return out


def assign_phrases(probs: torch.Tensor, spans: Sequence[Sequence[int]], text_threshold: float) -> list[int]:
    """Best phrase per box, or -1 when no phrase's tokens reach ``text_threshold``.

    Args:
        probs: ``(N, T)`` sigmoid token probabilities of N boxes over the prompt's T tokens.
        spans: token indices of each phrase.
    """
    if probs.shape[0] == 0 or not spans:
        return [-1] * int(probs.shape[0])
    per_phrase = torch.stack(
        [probs[:, list(s)].max(dim=1).values if s else torch.zeros(probs.shape[0]) for s in spans], dim=1
    )
    best, which = per_phrase.max(dim=1)
    return [int(w) if float(b) > text_threshold else -1 for b, w in zip(best, which, strict=True)]


def box_iou_matrix(boxes: torch.Tensor) -> torch.Tensor:
    """``(N, N)`` IoU of ``(N, 4)`` xyxy boxes."""
    area = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)
    return inter / (area[:, None] + area[None, :] - inter).clamp(min=1e-9)


def nms_keep(boxes: torch.Tensor, scores: torch.Tensor, labels: Sequence[int], iou: float) -> list[int]:
    """Indices kept by greedy per-label non-maximum suppression, best score first."""
    order = torch.argsort(scores, descending=True).tolist()
    if iou >= 1.0:
        return order
    ious = box_iou_matrix(boxes)
    kept: list[int] = []
    for i in order:
        if all(labels[j] != labels[i] or float(ious[i, j]) <= iou for j in kept):
            kept.append(i)
    return kept


class GroundingDinoDetector:
    """Open-vocabulary keyframe detector (implements ``Detector``)."""

    def __init__(
        self,
        model: torch.nn.Module,
        processor: object,
        *,
        device: torch.device,
        dtype: torch.dtype,
        box_threshold: float = 0.35,
        text_threshold: float = 0.25,
        max_detections: int = 16,
        max_prompt_chars: int = 256,
        nms_iou: float = 0.7,
    ) -> None:
        self.model = model
        self.processor = processor
        self.device = device
        self.dtype = dtype
        self.box_threshold = box_threshold
        self.text_threshold = text_threshold
        self.max_detections = max_detections
        self.max_prompt_chars = max_prompt_chars
        self.nms_iou = nms_iou
        self.max_text_len = int(model.config.max_text_len)

    @classmethod
    def from_config(cls, config: Config) -> GroundingDinoDetector:
        """Load ``grounding.model_path`` (local files only); ``BackendLoadError`` when unusable."""
        path = require_model(config.grounding.model_path, "groundingdino", "grounding.model_path")
        loaded = load_local_model("GroundingDinoForObjectDetection", path, "GroundingDINO", config.device,
                                  with_processor=True)
        g = config.grounding
        return cls(
            loaded.model,
            loaded.processor,
            device=loaded.device,
            dtype=loaded.dtype,
            box_threshold=g.box_threshold,
            text_threshold=g.text_threshold,
            max_detections=g.max_detections,
            max_prompt_chars=g.max_prompt_chars,
            nms_iou=g.nms_iou,
        )

    def _fit_tokens(self, spans: list[tuple[str, int, int]], prompt: str) -> tuple[str, list[tuple[str, int, int]]]:
        """Drop trailing phrases until the prompt fits the model's text length (with [CLS]/[SEP])."""
        while spans:
            n_tokens = len(self.processor.tokenizer(prompt).input_ids)
            if n_tokens <= self.max_text_len:
                return prompt, spans
            LOG.warning("groundingdino: prompt has %d tokens > %d; dropping %r", n_tokens, self.max_text_len, spans[-1])
            spans = spans[:-1]
            prompt = prompt[: spans[-1][2] + 1] if spans else ""
        return prompt, spans

    def detect(self, frame: FrameContext, phrases: Sequence[str]) -> list[Detection]:
        """Detections for ``phrases`` on ``frame``, best first, boxes in pixel xyxy of the frame."""
        image = frame.image
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"frame must be an (H, W, 3) uint8 RGB array, got {getattr(image, 'shape', image)}")
        prompt, spans = build_prompt(phrases, self.max_prompt_chars)
        prompt, spans = self._fit_tokens(spans, prompt)
        if not spans:
            return []
        h, w = image.shape[:2]
        inputs = self.processor(images=image, text=prompt, return_offsets_mapping=True, return_tensors="pt")
        offsets = [tuple(map(int, o)) for o in inputs.pop("offset_mapping")[0].tolist()]
        inputs = inputs.to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            outputs = self.model(**inputs)
        outputs.logits = outputs.logits.float()
        outputs.pred_boxes = outputs.pred_boxes.float()
        result = self.processor.post_process_grounded_object_detection(
            outputs,
            inputs["input_ids"],
            threshold=self.box_threshold,
            text_threshold=self.text_threshold,
            target_sizes=[(h, w)],
        )[0]
        # Same selection as the post-processing (score = max token probability > threshold), to get
        # each kept box's token probabilities for the phrase assignment.
        probs = torch.sigmoid(outputs.logits[0]).cpu()
        kept_probs = probs[probs.max(dim=1).values > self.box_threshold]
        boxes = result["boxes"].float().cpu()
        scores = result["scores"].float().cpu()
        if kept_probs.shape[0] != boxes.shape[0]:
            raise RuntimeError("groundingdino post-processing changed its selection rule; update detect()")
        labels = assign_phrases(kept_probs[:, : len(offsets)], token_spans(offsets, spans), self.text_threshold)
        valid = [i for i, lab in enumerate(labels) if lab >= 0]
        if not valid:
            return []
        boxes, scores = boxes[valid], scores[valid]
        labels = [labels[i] for i in valid]
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
        order = nms_keep(boxes, scores, labels, self.nms_iou)[: self.max_detections]
        return [
            Detection(box=boxes[i].numpy().astype(np.float64), score=float(scores[i]), phrase=spans[labels[i]][0])
            for i in order
            if boxes[i, 2] > boxes[i, 0] and boxes[i, 3] > boxes[i, 1]
        ]
