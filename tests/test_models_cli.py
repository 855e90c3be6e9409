"""Model weights: local verification on real files (tiny checkpoints, a real GGUF), the download flow
with a stand-in hub client (no network here) feeding that same verification, and the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from parse_vos_ros import models
from parse_vos_ros.backends import BackendLoadError, build_detector
from parse_vos_ros.cli import main
from parse_vos_ros.config import load_config

pytestmark = pytest.mark.ml
pytest.importorskip("transformers")

from tiny_models import (  # noqa: E402
    build_tiny_clip,
    build_tiny_groundingdino,
    build_tiny_sam2_video,
    one_torch_thread,  # noqa: F401 (autouse fixture)
)


def write_gguf(path: Path) -> Path:
    gguf = pytest.importorskip("gguf")
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_tensor("token_embd.weight", np.arange(256, dtype=np.float32).reshape(16, 16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny checkpoint per kind, as the hub would deliver them."""
    root = tmp_path_factory.mktemp("hub")
    return {
        "groundingdino": build_tiny_groundingdino(root / "gd"),
        "sam2": build_tiny_sam2_video(root / "sam2"),
        "clip": build_tiny_clip(root / "clip"),
        "gguf": write_gguf(root / "tiny.gguf"),
    }


class FakeHub:
    """Stands in for huggingface_hub (no network in tests): serves the tiny checkpoints for the
    repositories of a profile, optionally damaging one file on the way."""

    def __init__(self, checkpoints: dict[str, Path], profile: str, truncate: str = "") -> None:
        self.by_repo = {spec.repo_id: checkpoints[spec.kind] for spec in models.PROFILES[profile]}
        self.truncate = truncate
        self.calls: list[tuple[str, str]] = []

    def snapshot_download(self, repo_id: str, *, local_dir: str, allow_patterns: list[str]) -> str:
        self.calls.append(("snapshot", repo_id))
        assert "*.safetensors" in allow_patterns and "*.json" in allow_patterns
        shutil.copytree(self.by_repo[repo_id], local_dir, dirs_exist_ok=True)
        if self.truncate == repo_id:
            weights = Path(local_dir) / "model.safetensors"
            weights.write_bytes(weights.read_bytes()[:-1000])
        return local_dir

    def hf_hub_download(self, repo_id: str, filename: str, *, local_dir: str) -> str:
        self.calls.append(("file", repo_id))
        target = Path(local_dir) / filename
        shutil.copy(self.by_repo[repo_id], target)
        return str(target)


def test_complete_checkpoints_verify(checkpoints: dict[str, Path]) -> None:
    for kind, path in checkpoints.items():
        assert models.verify_model_dir(path, kind) == [], kind


def test_truncated_and_foreign_files_are_named(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "sam2"
    shutil.copytree(checkpoints["sam2"], broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    (problem,) = models.verify_model_dir(broken, "sam2")
    assert str(weights) in problem and "truncated" in problem

    clip_as_sam = models.verify_model_dir(checkpoints["clip"], "sam2")
    assert any("model_type 'clip'" in p for p in clip_as_sam)

    gguf_file = tmp_path / "cut.gguf"
    gguf_file.write_bytes(checkpoints["gguf"].read_bytes()[:-64])
    assert "truncated" in models.verify_model_dir(gguf_file, "gguf")[0]
    not_gguf = tmp_path / "x.gguf"
    not_gguf.write_bytes(b"GGML" + bytes(100))
    assert "not a GGUF" in models.verify_model_dir(not_gguf, "gguf")[0]

    no_tok = tmp_path / "clip"
    shutil.copytree(checkpoints["clip"], no_tok)
    for name in models.TOKENIZER_FILES:
        (no_tok / name).unlink(missing_ok=True)
    assert any("tokenizer" in p for p in models.verify_model_dir(no_tok, "clip"))


def test_require_model_error_names_file_key_and_command(tmp_path: Path) -> None:
    with pytest.raises(BackendLoadError) as info:
        models.require_model(str(tmp_path / "gd"), "groundingdino", "grounding.model_path")
    message = str(info.value)
    assert str(tmp_path / "gd") in message and "grounding.model_path" in message
    assert "parse-vos models download --profile paper --dir DIR" in message


def test_download_verifies_and_writes_a_ready_config(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    hub = FakeHub(checkpoints, "jetson")
    out = models.download("jetson", tmp_path / "w", hub=hub, log=lambda _: None)
    assert out == (tmp_path / "w" / "jetson.yaml").resolve()
    assert {r for _, r in hub.calls} == {s.repo_id for s in models.PROFILES["jetson"]}
    config = load_config(out)
    assert config.engine.keyframe_interval == 15  # the profile's settings are kept
    assert Path(config.tracking.model_path) == (tmp_path / "w" / "sam2.1-hiera-tiny").resolve()
    assert Path(config.llm.model_path).name == "Llama-3.2-3B-Instruct-Q4_K_M.gguf"
    assert all(not problems for problems in models.verify_config(config).values())
    assert main(["models", "verify", "--config", str(out)]) == 0
    # and the backends load from what was written
    config.device = "cpu"
    assert type(build_detector(config)).__name__ == "GroundingDinoDetector"


def test_download_reports_a_corrupt_file(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    hub = FakeHub(checkpoints, "paper", truncate="openai/clip-vit-large-patch14")
    with pytest.raises(BackendLoadError, match=r"pose\.model_path: .*clip-vit-large-patch14.*truncated"):
        models.download("paper", tmp_path, hub=hub, log=lambda _: None)
    assert not (tmp_path / "paper.yaml").exists()
    with pytest.raises(ValueError, match="unknown model profile"):
        models.download("huge", tmp_path, hub=hub)


def test_verify_cli_fails_on_missing_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "verify", "--config", "paper"]) == 1  # the repo has no weights
    captured = capsys.readouterr()
    assert "FAIL grounding.model_path" in captured.out and "FAIL llm.model_path" in captured.out
    assert "parse-vos models download --profile paper" in captured.err
    assert main(["models", "verify", "--config", "default"]) == 0  # embedded: nothing to check
    assert main(["models", "list"]) == 0
    assert "facebook/sam2.1-hiera-large" in capsys.readouterr().out


def test_profiles_reproduce_the_paper_settings() -> None:
    for name in ("paper", "jetson"):
        config = load_config(name)
        assert config.engine.keyframe_interval == 15 and config.pose.keyframes == 3
        assert (config.grounding.backend, config.tracking.backend, config.pose.backend) == (
            "groundingdino",
            "sam2",
            "clip",
        )
        assert config.fallback == "embedded"
