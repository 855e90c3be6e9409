"""Vendored models: `parse-vos models verify` on the package's files and on damaged copies; the learned
detector's clear load errors and the weight-free fallback they allow."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from parse_vos_ros import backends, models
from parse_vos_ros.backends import BackendLoadError, build_detector
from parse_vos_ros.cli import main
from parse_vos_ros.config import load_config
from parse_vos_ros.grounding.embedded import EmbeddedDetector


def copy_models(tmp_path: Path) -> Path:
    target = tmp_path / "models"
    shutil.copytree(models.vendored_dir(), target)
    return target


def test_every_vendored_file_is_intact_and_has_its_licence() -> None:
    assert all(problem is None for problem in models.verify_vendored().values())
    for spec in models.VENDORED:
        folder = models.vendored_path(spec.path).parent
        assert (folder / "LICENSE").is_file() and (folder / "PROVENANCE.md").is_file()


def test_verify_cli_passes_on_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "verify"]) == 0
    out = capsys.readouterr().out
    assert out.count("ok   vendored") == len(models.VENDORED)


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_verify_cli_fails_on_a_damaged_copy(tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_models(tmp_path)
    victim = root / "coral" / "mobilenet_v2_1.0_224_quant.tflite"
    if damage == "flip":
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size, one byte changed
        victim.write_bytes(bytes(data))
    elif damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:1000])
    else:
        victim.unlink()
    assert main(["models", "verify", "--models-dir", str(root)]) == 1
    captured = capsys.readouterr()
    fail = [line for line in captured.out.splitlines() if line.startswith("FAIL")]
    assert len(fail) == 1 and "mobilenet_v2_1.0_224_quant.tflite" in fail[0]
    assert {"flip": "corrupt", "truncate": "truncated", "delete": "missing"}[damage] in fail[0]
    assert "reinstall" in captured.err


def learned_config(**overrides: object) -> object:
    return load_config(None, {"grounding.backend": "learned", **overrides})


def test_missing_model_file_is_one_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.onnx"
    with pytest.raises(BackendLoadError) as err:
        build_detector(learned_config(**{"grounding.yolox_model": str(missing)}))
    message = str(err.value)
    assert str(missing) in message and "grounding.yolox_model" in message and "fix:" in message


def test_corrupt_vendored_model_is_named_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_models(tmp_path)
    onnx = root / "yolox-nano" / "yolox_nano.onnx"
    data = bytearray(onnx.read_bytes())
    data[100:200] = bytes(100)
    onnx.write_bytes(bytes(data))
    monkeypatch.setattr(models, "vendored_dir", lambda: root)
    with pytest.raises(BackendLoadError, match=r"yolox_nano\.onnx.*corrupt.*fix: reinstall"):
        build_detector(learned_config())


@pytest.mark.parametrize("value", ["weightfree", "embedded"])
def test_fallback_runs_the_weightfree_detector_and_records_why(tmp_path: Path, value: str) -> None:
    backends.clear_fallbacks()
    broken = tmp_path / "missing.onnx"
    config = learned_config(**{"grounding.yolox_model": str(broken), "fallback": value})
    detector = build_detector(config)
    assert isinstance(detector, EmbeddedDetector)
    (event,) = backends.fallbacks()
    assert (event.kind, event.configured, event.used) == ("detector", "learned", "embedded")
    assert str(broken) in event.reason and "fix:" in event.reason
    assert "falling back to 'embedded'" in event.describe()
    backends.clear_fallbacks()


def test_corrupt_model_file_in_a_custom_path_is_a_load_error(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(BackendLoadError, match=r"broken\.onnx cannot be loaded.*fix: set grounding\.yolox_model"):
        build_detector(learned_config(**{"grounding.yolox_model": str(broken)}))
