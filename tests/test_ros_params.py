"""Parameters, QoS choice, fault logging and the launcher's command lines (in-process, no DDS)."""

from __future__ import annotations

import pytest
import yaml

from parse_vos_ros.config import Config, ConfigError, load_config
from parse_vos_ros.ros import params
from parse_vos_ros.ros.faults import FaultLog
from parse_vos_ros.ros.launch import node_command, ros_arguments

pytestmark = pytest.mark.ros


def test_every_config_key_is_a_parameter() -> None:
    config = Config()
    keys = [k for k, _ in params.config_keys(config)]
    assert "engine.window_s" in keys and "ros.image_reliability" in keys and "fallback" in keys
    assert len(keys) == len(set(keys)) == len(list(config.flat_items()))


def test_changes_are_validated_and_classified() -> None:
    base = Config()
    live = params.classify_changes(base, {"ros.frame_id_override": "cam2", "ros.max_image_pixels": 10_000})
    assert live.live == {"ros.frame_id_override", "ros.max_image_pixels"}
    assert not live.rebuild_engine and not live.resubscribe
    assert live.config.ros.frame_id_override == "cam2" and base.ros.frame_id_override == ""
    rebuild = params.classify_changes(base, {"engine.window_s": 4, "tracking.iou_gate": 0.3})
    assert rebuild.rebuild_engine and rebuild.config.engine.window_s == 4.0  # int coerced to float
    assert params.classify_changes(base, {"ros.image_reliability": "best_effort"}).resubscribe
    unchanged = params.classify_changes(base, {"engine.window_s": base.engine.window_s})
    assert not (unchanged.rebuild_engine or unchanged.live or unchanged.resubscribe)
    with pytest.raises(ConfigError, match=r"engine\.window_s"):
        params.classify_changes(base, {"engine.window_s": -1.0})
    with pytest.raises(ConfigError, match=r"ros\.image_reliability"):
        params.classify_changes(base, {"ros.image_reliability": "sometimes"})
    with pytest.raises(ConfigError, match="unknown key"):
        params.classify_changes(base, {"engine.nope": 1})
    with pytest.raises(ConfigError, match=r"engine\.max_tracks"):
        params.classify_changes(base, {"engine.max_tracks": "many"})


def test_queued_changes_combine_without_losing_one() -> None:
    first = params.classify_changes(Config(), {"ros.frame_id_override": "a"})
    second = params.classify_changes(first.config, {"engine.window_s": 3.0})
    both = first.then(second)
    assert both.config.ros.frame_id_override == "a" and both.config.engine.window_s == 3.0
    assert both.live == {"ros.frame_id_override"} and both.rebuild_engine and not both.resubscribe


def test_params_file_round_trips_into_a_config() -> None:
    config = load_config("default", {"engine.window_s": 3.5, "ros.frame_id_override": "x"})
    text = params.params_file_text(config, ["/**", "/robot/parse_vos"])
    data = yaml.safe_load(text)
    body = data["/robot/parse_vos"]["ros__parameters"]
    assert data["/**"] == data["/robot/parse_vos"]
    assert params.config_from_values({}, base=params.config_from_values(_flatten(body))) == config


def _flatten(tree: dict, prefix: str = "") -> dict:
    out: dict = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_image_reliability_follows_the_publishers() -> None:
    from rclpy.qos import ReliabilityPolicy

    from parse_vos_ros.ros.qos import choose_image_reliability, image_qos

    reliable, best = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT
    assert choose_image_reliability([]) == "reliable"
    assert choose_image_reliability([reliable, reliable]) == "reliable"
    assert choose_image_reliability([reliable, best]) == "best_effort"
    assert choose_image_reliability([reliable], "best_effort") == "best_effort"
    assert choose_image_reliability([best], "reliable") == "reliable"
    with pytest.raises(ValueError, match="image_reliability"):
        choose_image_reliability([], "maybe")
    qos = image_qos("best_effort")
    assert qos.depth == 1 and qos.reliability == best


def test_fault_log_rate_limits_per_kind() -> None:
    lines: list[str] = []
    now = [0.0]
    log = FaultLog(lines.append, period_s=5.0, clock=lambda: now[0])
    for _ in range(100):
        log.report("bad_encoding", "unsupported encoding")
    log.report("too_large", "huge")
    now[0] = 6.0
    log.report("bad_encoding", "unsupported encoding")
    assert lines == ["[bad_encoding] unsupported encoding", "[too_large] huge",
                     "[bad_encoding] unsupported encoding (99 more since the last report)"]
    assert log.counts() == {"bad_encoding": 101, "too_large": 1}


def test_launcher_command_line() -> None:
    args = ros_arguments(camera_topic="/cam/image_raw", namespace="robot1", name="pv",
                         params={"engine.window_s": 5.0, "ros.frame_id_override": "", "engine.offline_revise": False})
    assert args == ["-r", "image:=/cam/image_raw", "-r", "__ns:=/robot1", "-r", "__node:=pv",
                    "-p", "engine.window_s:=5.0", "-p", "ros.frame_id_override:=''",
                    "-p", "engine.offline_revise:=false"]
    cmd = node_command("paper", overrides=["engine.window_s=5"], camera_topic="/c")
    assert cmd[1:] == ["-m", "parse_vos_ros.cli", "node", "--config", "paper", "--set", "engine.window_s=5",
                       "--ros-args", "-r", "image:=/c"]
