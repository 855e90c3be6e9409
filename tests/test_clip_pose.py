"""CLIP pose verifier with the real CLIPModel + processor (tiny random weights, local files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_models import build_tiny_clip, one_torch_thread  # noqa: E402, F401 (autouse fixture)

from parse_vos_ros.backends import BackendLoadError, build_pose_verifier  # noqa: E402
from parse_vos_ros.config import load_config  # noqa: E402
from parse_vos_ros.reasoning.clip_pose import ClipPoseVerifier  # noqa: E402

pytestmark = pytest.mark.ml


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture()
def verifier(clip_dir: Path) -> ClipPoseVerifier:
    config = load_config(None, {"pose.backend": "clip", "pose.model_path": str(clip_dir), "device": "cpu"})
    return ClipPoseVerifier.from_config(config)


def crops(seed: int) -> dict[int, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {
        3: [rng.integers(0, 256, (40, 20, 3), dtype=np.uint8) for _ in range(3)],
        8: [rng.integers(0, 256, (64, 30, 3), dtype=np.uint8) for _ in range(3)],
        5: [np.full((10, 50, 3), 200, np.uint8)],
    }


def test_scores_are_probabilities_over_the_candidates(verifier: ClipPoseVerifier) -> None:
    scores = verifier.score("sitting with raised arm", crops(0))
    assert set(scores) == {3, 8, 5}
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert set(verifier.last_cosines) == {3, 8, 5}
    assert all(-1.0 <= c <= 1.0 for c in verifier.last_cosines.values())


def test_scores_equal_the_documented_clip_computation(verifier: ClipPoseVerifier, clip_dir: Path) -> None:
    """Mean of each track's normalised image embeddings, cosine with the prompt's text embedding,
    softmax with CLIP's logit scale; computed here straight from CLIPModel and its processor."""
    from transformers import AutoProcessor, CLIPModel

    model = CLIPModel.from_pretrained(clip_dir, local_files_only=True).eval()
    processor = AutoProcessor.from_pretrained(clip_dir, local_files_only=True)
    data = crops(1)
    with torch.inference_mode():
        text = model.get_text_features(**processor.tokenizer(["a photo of standing"], return_tensors="pt"))
        text = (text if isinstance(text, torch.Tensor) else text.pooler_output)[0]
        text = text / text.norm()
        cos = []
        for track in (3, 8, 5):
            img = model.get_image_features(**processor.image_processor(images=data[track], return_tensors="pt"))
            img = img if isinstance(img, torch.Tensor) else img.pooler_output
            mean = (img / img.norm(dim=1, keepdim=True)).mean(0)
            cos.append(float(mean @ text / mean.norm()))
        expected = torch.softmax(model.logit_scale.exp() * torch.tensor(cos), 0)
    scores = verifier.score("standing", data)
    np.testing.assert_allclose([verifier.last_cosines[t] for t in (3, 8, 5)], cos, atol=1e-5)
    np.testing.assert_allclose([scores[t] for t in (3, 8, 5)], expected.numpy(), atol=1e-5)


def test_text_embedding_is_cached_per_pose_text(verifier: ClipPoseVerifier) -> None:
    data = crops(2)
    first = verifier.score("sitting", data)
    assert verifier.text_encodings == 1
    assert verifier.score("sitting", data) == pytest.approx(first)
    assert verifier.text_encodings == 1  # cache hit
    verifier.score("standing", data)
    assert verifier.text_encodings == 2
    verifier.score("standing", data, "dog")  # the subject is named: another prompt
    assert verifier.text_encodings == 3
    verifier.text_embedding("dog standing")
    assert verifier.text_encodings == 3  # a cache hit: "a photo of dog standing" was the prompt


def test_order_of_tracks_does_not_matter(verifier: ClipPoseVerifier) -> None:
    data = crops(3)
    forward = verifier.score("sitting", data)
    backward = verifier.score("sitting", dict(reversed(list(data.items()))))
    assert forward == pytest.approx(backward, abs=1e-6)


def test_invalid_crops_are_skipped_and_tracks_without_any_score_zero(verifier: ClipPoseVerifier) -> None:
    data = crops(4)
    data[9] = [np.zeros((0, 4, 3), np.uint8), np.zeros((5, 5), np.uint8)]
    scores = verifier.score("sitting", data)
    assert scores[9] == 0.0 and 9 not in verifier.last_cosines
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert verifier.score("sitting", {1: [np.zeros((3, 3), np.float32)]}) == {1: 0.0}
    with pytest.raises(ValueError, match="pose text is empty"):
        verifier.score("  ", data)


def test_missing_weights_and_registry(clip_dir: Path, tmp_path: Path) -> None:
    bad = load_config(None, {"pose.backend": "clip", "pose.model_path": str(tmp_path / "none"), "device": "cpu"})
    with pytest.raises(BackendLoadError, match=r"pose\.model_path.*parse-vos models download"):
        ClipPoseVerifier.from_config(bad)
    good = load_config(None, {"pose.backend": "clip", "pose.model_path": str(clip_dir), "device": "cpu"})
    assert isinstance(build_pose_verifier(good), ClipPoseVerifier)


def test_half_precision_model_scores(clip_dir: Path) -> None:
    from transformers import AutoProcessor, CLIPModel

    model = CLIPModel.from_pretrained(clip_dir, local_files_only=True, dtype=torch.bfloat16).eval()
    processor = AutoProcessor.from_pretrained(clip_dir, local_files_only=True)
    verifier = ClipPoseVerifier(model, processor, device=torch.device("cpu"), dtype=torch.bfloat16)
    scores = verifier.score("sitting", crops(5))
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-3)
