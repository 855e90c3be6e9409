"""GroundingDINO detector: prompt building, phrase assignment, NMS, and the real
GroundingDinoForObjectDetection + processor (tiny random weights) loaded from local files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_models import build_tiny_groundingdino, one_torch_thread  # noqa: E402, F401 (autouse fixture)

from parse_vos_ros.backends import BackendLoadError, build_detector  # noqa: E402
from parse_vos_ros.config import load_config  # noqa: E402
from parse_vos_ros.grounding.groundingdino import (  # noqa: E402
    GroundingDinoDetector,
    assign_phrases,
    build_prompt,
    nms_keep,
    token_spans,
)
from parse_vos_ros.types import FrameContext  # noqa: E402

pytestmark = pytest.mark.ml


H, W = 90, 150


@pytest.fixture(scope="session")
def gd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_groundingdino(tmp_path_factory.mktemp("gd") / "tiny-groundingdino")


def make_config(path: Path, **overrides: object):
    sets = {"grounding.backend": "groundingdino", "grounding.model_path": str(path), "device": "cpu"}
    sets.update(overrides)
    return load_config(None, sets)


def frame() -> FrameContext:
    img = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    return FrameContext(index=0, stamp=0.0, image=img, gray=img[..., 0].copy())


# --- pure parts ---------------------------------------------------------------------------------


def test_prompt_is_lower_case_dot_separated_deduplicated() -> None:
    prompt, spans = build_prompt(["Dog", "red  Car.", "dog", "  "], 256)
    assert prompt == "dog. red car."
    assert [(p, prompt[a:b]) for p, a, b in spans] == [("Dog", "dog"), ("red  Car.", "red car")]


def test_prompt_is_capped_in_characters() -> None:
    prompt, spans = build_prompt(["person", "dog", "bicycle"], 12)
    assert prompt == "person. dog." and len(prompt) <= 12
    assert [s[0] for s in spans] == ["person", "dog"]
    prompt, spans = build_prompt(["a very long phrase about a dog"], 16)
    assert len(prompt) <= 16 and prompt.endswith(".") and spans[0][0] == "a very long phrase about a dog"


def test_token_spans_follow_the_real_tokenizer(gd_dir: Path) -> None:
    from transformers import AutoProcessor

    tokenizer = AutoProcessor.from_pretrained(gd_dir, local_files_only=True).tokenizer
    prompt, spans = build_prompt(["dog", "red car"], 256)
    enc = tokenizer(prompt, return_offsets_mapping=True)
    got = token_spans([tuple(o) for o in enc["offset_mapping"]], spans)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert [[tokens[i] for i in s] for s in got] == [["dog"], ["red", "car"]]


def test_assign_phrases_picks_the_best_span_above_the_text_threshold() -> None:
    probs = torch.tensor(
        [
            [0.0, 0.9, 0.1, 0.2, 0.3, 0.0],  # "dog" token wins
            [0.0, 0.1, 0.0, 0.2, 0.8, 0.0],  # "car" token wins -> phrase 1
            [0.0, 0.1, 0.0, 0.2, 0.2, 0.0],  # nothing above 0.25
        ]
    )
    assert assign_phrases(probs, [[1], [3, 4]], 0.25) == [0, 1, -1]
    assert assign_phrases(torch.zeros((0, 6)), [[1]], 0.25) == []


def test_nms_is_per_phrase() -> None:
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert nms_keep(boxes, scores, [0, 0, 1], 0.5) == [0, 2]  # the duplicate of phrase 0 goes
    assert nms_keep(boxes, scores, [0, 0, 1], 1.0) == [0, 1, 2]  # 1 = off


# --- the real model -----------------------------------------------------------------------------


def test_detections_are_pixel_xyxy_boxes_of_the_original_frame(gd_dir: Path) -> None:
    detector = GroundingDinoDetector.from_config(
        make_config(gd_dir, **{"grounding.box_threshold": 0.0, "grounding.text_threshold": 0.0})
    )
    detector.nms_iou = 1.0  # keep every query so boxes map one-to-one onto the raw output
    captured = {}
    handle = detector.model.register_forward_hook(lambda m, i, o: captured.update(out=o))
    try:
        dets = detector.detect(frame(), ["dog", "red car"])
    finally:
        handle.remove()
    assert dets and len(dets) <= detector.max_detections
    # The documented conversion: (cx, cy, w, h) relative -> (x0, y0, x1, y1) pixels of the input.
    cx, cy, bw, bh = captured["out"].pred_boxes[0].unbind(-1)
    expected = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1) * torch.tensor([W, H, W, H])
    expected[:, 0::2] = expected[:, 0::2].clamp(0, W)
    expected[:, 1::2] = expected[:, 1::2].clamp(0, H)
    for det in dets:
        assert det.box.shape == (4,) and det.box.dtype == np.float64
        assert 0 <= det.box[0] < det.box[2] <= W and 0 <= det.box[1] < det.box[3] <= H
        assert torch.cdist(torch.tensor(det.box[None], dtype=torch.float32), expected).min() < 1e-3
        assert det.phrase in ("dog", "red car") and 0.0 <= det.score <= 1.0
    assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)


def test_thresholds_and_cap_are_honoured(gd_dir: Path) -> None:
    config = make_config(gd_dir, **{"grounding.box_threshold": 0.0, "grounding.text_threshold": 0.0})
    detector = GroundingDinoDetector.from_config(config)
    detector.max_detections = 2
    assert len(detector.detect(frame(), ["dog"])) <= 2
    detector.text_threshold = 1.0  # no token probability exceeds 1
    assert detector.detect(frame(), ["dog"]) == []
    detector.text_threshold, detector.box_threshold = 0.0, 1.0
    assert detector.detect(frame(), ["dog"]) == []


def test_many_phrases_fit_the_models_text_length(gd_dir: Path) -> None:
    detector = GroundingDinoDetector.from_config(
        make_config(gd_dir, **{"grounding.box_threshold": 0.0, "grounding.text_threshold": 0.0})
    )
    phrases = [f"{c} {n}" for c in ("red", "blue", "green", "big", "small") for n in ("dog", "cat", "car", "bird")]
    dets = detector.detect(frame(), phrases)  # 20 phrases, ~60 tokens > max_text_len 32
    assert dets and {d.phrase for d in dets} <= set(phrases[:10])


def test_bad_input_and_missing_weights(gd_dir: Path, tmp_path: Path) -> None:
    detector = GroundingDinoDetector.from_config(make_config(gd_dir))
    gray = np.zeros((H, W), np.uint8)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        detector.detect(FrameContext(index=0, stamp=0.0, image=gray, gray=gray), ["dog"])
    assert detector.detect(frame(), [" . "]) == []  # nothing left to ground
    with pytest.raises(BackendLoadError, match=r"grounding\.model_path.*parse-vos models download"):
        GroundingDinoDetector.from_config(make_config(tmp_path / "missing"))


def test_registry_builds_it_by_name(gd_dir: Path) -> None:
    assert isinstance(build_detector(make_config(gd_dir)), GroundingDinoDetector)


def test_half_precision_model_gives_float_boxes(gd_dir: Path) -> None:
    from transformers import AutoProcessor, GroundingDinoForObjectDetection

    model = GroundingDinoForObjectDetection.from_pretrained(gd_dir, local_files_only=True, dtype=torch.bfloat16)
    processor = AutoProcessor.from_pretrained(gd_dir, local_files_only=True)
    detector = GroundingDinoDetector(
        model.eval(), processor, device=torch.device("cpu"), dtype=torch.bfloat16, box_threshold=0.0, text_threshold=0.0
    )
    dets = detector.detect(frame(), ["dog"])
    assert dets and all(d.box.dtype == np.float64 and d.phrase == "dog" for d in dets)
