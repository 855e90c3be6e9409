"""Which Fast DDS profile child processes and this process get (no ROS needed)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from parse_vos_ros import ros_env
from parse_vos_ros.ros_env import DDS_PROFILE, use_dds_profile


@pytest.mark.parametrize("env", [{}, {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}, {"PARSE_VOS_DDS_PROFILE": "on"}])
def test_the_bundled_profile_is_set_for_fast_dds(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ros_env, "free_shm_bytes", lambda: 2**30)
    assert use_dds_profile(env)
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(DDS_PROFILE)


@pytest.mark.parametrize("preset", [
    {"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/robot/fastdds.xml"},
    {"FASTRTPS_DEFAULT_PROFILES_FILE": "/etc/robot/old_name.xml"},
    {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"},
    {"PARSE_VOS_DDS_PROFILE": "off"},
])
def test_a_users_own_choice_is_left_alone(preset: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ros_env, "free_shm_bytes", lambda: 2**30)
    env = dict(preset)
    assert not use_dds_profile(env)
    assert env == preset


def test_a_small_dev_shm_keeps_the_fast_dds_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ros_env.free_shm_bytes("/no/such/filesystem") == 0
    monkeypatch.setattr(ros_env, "free_shm_bytes", lambda: 64 * 2**20)  # Docker's default /dev/shm
    env: dict[str, str] = {}
    assert not use_dds_profile(env) and env == {}


def test_the_bundled_profile_enlarges_shared_memory_and_keeps_udp() -> None:
    ns = {"f": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    root = ET.parse(DDS_PROFILE).getroot()
    descriptors = root.iterfind(".//f:transport_descriptor", ns)
    transports = {d.findtext("f:transport_id", namespaces=ns): d for d in descriptors}
    kinds = {tid: d.findtext("f:type", namespaces=ns) for tid, d in transports.items()}
    assert sorted(kinds.values()) == ["SHM", "UDPv4"]
    shm = next(d for d in transports.values() if d.findtext("f:type", namespaces=ns) == "SHM")
    assert int(shm.findtext("f:segment_size", namespaces=ns)) == 16 * 2**20
    participant = root.find(".//f:participant", ns)
    assert participant is not None and participant.get("is_default_profile") == "true"
    used = [t.text for t in participant.iterfind(".//f:userTransports/f:transport_id", ns)]
    assert set(used) == set(kinds) and participant.findtext(".//f:useBuiltinTransports", namespaces=ns) == "false"
