"""Profiles load into typed dataclasses; unknown keys and bad values name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from parse_vos_ros.config import Config, ConfigError, load_config, parse_override

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("profile", sorted(p.stem for p in (REPO / "config").glob("*.yaml")))
def test_every_shipped_profile_loads(profile: str) -> None:
    config = load_config(profile)
    assert isinstance(config, Config)


def test_defaults_match_the_method() -> None:
    config = load_config(None)
    assert config.engine.keyframe_interval == 15
    assert config.pose.keyframes == 3
    assert config.grounding.backend == "embedded"


def test_overrides_are_typed_and_int_becomes_float() -> None:
    config = load_config("default", {"engine.window_s": 5, "tracking.iou_gate": 0.5})
    assert config.engine.window_s == 5.0 and isinstance(config.engine.window_s, float)
    assert config.tracking.iou_gate == 0.5


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"engine.no_such_key": 1}, "engine.no_such_key"),
        ({"nosection.x": 1}, "nosection"),
        ({"engine.keyframe_interval": 0}, "engine.keyframe_interval"),
        ({"engine.keyframe_interval": 2.5}, "engine.keyframe_interval"),
        ({"engine.offline_revise": "yes"}, "engine.offline_revise"),
        ({"grounding.backend": "yolo"}, "grounding.backend"),
        ({"grounding.backend": "groundingdino"}, "grounding.model_path"),
        ({"grounding.withheld_classes": "bird, camel"}, "grounding.withheld_classes"),
        ({"tracking.iou_gate": 1.5}, "tracking.iou_gate"),
        ({"engine": 3}, "engine"),
    ],
)
def test_bad_values_name_the_key(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config("default", overrides)
    assert info.value.key == key
    assert key in str(info.value)


def test_missing_profile_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no profile named 'nope'"):
        load_config("nope")
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.yaml")


def test_profile_file_with_unknown_key(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("engine:\n  window_seconds: 3\n")
    with pytest.raises(ConfigError, match=r"engine\.window_seconds.*unknown key"):
        load_config(path)


def test_parse_override_reads_yaml_values() -> None:
    assert parse_override("engine.window_s=2.5") == ("engine.window_s", 2.5)
    assert parse_override("grounding.backend=embedded") == ("grounding.backend", "embedded")
    with pytest.raises(ConfigError):
        parse_override("engine.window_s")


def test_flat_items_are_dotted_leaf_keys() -> None:
    keys = dict(load_config(None).flat_items())
    assert keys["engine.keyframe_interval"] == 15
    assert "llm.timeout_s" in keys and "device" in keys
