"""Make ROS 2 and this package's generated interfaces importable without sourcing anything.

Two layouts are supported:
- a ROS 2 installation the user already sourced (``/opt/ros/<distro>`` + their colcon
  workspace): everything is importable and nothing is changed;
- this repository's ``.venv`` with the ROS 2 wheels and ``ros2_ws/install`` built by
  ``scripts/setup.sh``: the install space is added to ``LD_LIBRARY_PATH`` (which the dynamic
  loader reads only at process start, hence one re-exec) and to ``sys.path``.

This module imports no ROS module itself, so the core stays ROS-free.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

import parse_vos_ros

PACKAGE = "parse_vos_ros"
_REEXEC_MARK = "PARSE_VOS_ROS_ENV_READY"
DDS_PROFILE = Path(__file__).resolve().parent / "ros" / "fastdds_large_images.xml"
_PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
_FASTDDS_RMWS = ("", "rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")
# Each process may fill its 16 MB segment; a smaller /dev/shm (Docker's default is 64 MB) would
# end in SIGBUS, so the profile needs this much free shared memory.
MIN_FREE_SHM_BYTES = 256 * 2**20


def free_shm_bytes(path: str = "/dev/shm") -> int:
    """Free bytes of the shared-memory filesystem (0 where there is none)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


class RosUnavailableError(RuntimeError):
    """ROS 2 or the built interfaces cannot be found; the message says how to fix it."""


def workspace_install_dir() -> Path | None:
    """This package's prefix in the repository's colcon install space, if it was built.

    ``$PARSE_VOS_ROS_INSTALL`` overrides the location (a ``.../install/parse_vos_ros`` prefix).
    """
    override = os.environ.get("PARSE_VOS_ROS_INSTALL")
    candidates = [Path(override)] if override else []
    candidates.append(Path(__file__).resolve().parents[2] / "ros2_ws" / "install" / PACKAGE)
    for prefix in candidates:
        if (prefix / "lib").is_dir():
            return prefix
    return None


def _site_packages(prefix: Path) -> Path:
    return prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def use_dds_profile(env: MutableMapping[str, str]) -> bool:
    """Point Fast DDS at :data:`DDS_PROFILE` (16 MB shared-memory segments, so camera images
    travel by shared memory instead of fragmented UDP; readers that release each sample's buffer,
    so one huge rejected image does not stay allocated) unless ``env`` already names a profile
    file, selects another RMW, sets ``PARSE_VOS_DDS_PROFILE=off``, or ``/dev/shm`` has less than
    :data:`MIN_FREE_SHM_BYTES` free. Must run before ``rclpy.init`` creates the DDS participant.
    Returns True when the profile was set.
    """
    if env.get("PARSE_VOS_DDS_PROFILE", "").lower() == "off" or any(env.get(v) for v in _PROFILE_VARIABLES):
        return False
    if env.get("RMW_IMPLEMENTATION", "") not in _FASTDDS_RMWS or not DDS_PROFILE.is_file():
        return False
    if free_shm_bytes() < MIN_FREE_SHM_BYTES:
        return False
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(DDS_PROFILE)
    # rmw_fastrtps imposes its own history memory policy unless told to take it from the XML; the
    # profile's readers free each sample's buffer after use (see the profile's comment).
    env.setdefault("RMW_FASTRTPS_USE_QOS_FROM_XML", "1")
    return True


def ros_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process that imports rclpy and ``parse_vos_ros.msg``.

    Adds the install space to ``LD_LIBRARY_PATH``, ``AMENT_PREFIX_PATH`` and
    ``PARSE_VOS_ROS_INSTALL``; never to ``PYTHONPATH``, because the install space's generated
    ``parse_vos_ros/__init__.py`` would shadow the real package (``add_interfaces_to_path``
    merges it instead). Also applies :func:`use_dds_profile`.
    """
    env = dict(os.environ if base is None else base)
    use_dds_profile(env)
    prefix = workspace_install_dir()
    if prefix is None:
        return env

    def prepend(name: str, value: str) -> None:
        parts = [p for p in env.get(name, "").split(os.pathsep) if p]
        if value not in parts:
            env[name] = os.pathsep.join([value, *parts])

    prepend("LD_LIBRARY_PATH", str(prefix / "lib"))
    prepend("AMENT_PREFIX_PATH", str(prefix))
    venv_prefix = Path(sys.prefix)
    if (venv_prefix / "share" / "ament_index").is_dir():
        # The ROS wheels install their ament index into the venv prefix.
        parts = env["AMENT_PREFIX_PATH"].split(os.pathsep)
        if str(venv_prefix) not in parts:
            env["AMENT_PREFIX_PATH"] = os.pathsep.join([*parts, str(venv_prefix)])
    env["PARSE_VOS_ROS_INSTALL"] = str(prefix)
    return env


def add_interfaces_to_path() -> None:
    """Merge the install space's ``parse_vos_ros`` directory (msg/, srv/) into this package."""
    prefix = workspace_install_dir()
    if prefix is None:
        return
    site = _site_packages(prefix)
    generated = site / PACKAGE
    if generated.is_dir() and str(generated) not in parse_vos_ros.__path__:
        parse_vos_ros.__path__.append(str(generated))
    if str(site) not in sys.path:
        sys.path.append(str(site))


def _interfaces_importable() -> bool:
    try:
        return importlib.util.find_spec(f"{PACKAGE}.msg") is not None
    except ImportError:
        return False


def ensure_ros(argv: list[str] | None = None) -> None:
    """Make rclpy and the interfaces importable in this process, re-executing once if needed.

    Args:
        argv: the command line to re-execute with (default ``sys.argv[1:]`` of ``parse-vos``).

    Raises:
        RosUnavailableError: with a fix-it message when ROS 2 or the interfaces are missing.
    """
    if importlib.util.find_spec("rclpy") is None:
        raise RosUnavailableError(
            "rclpy is not importable: source /opt/ros/<distro>/setup.bash on a ROS 2 machine, "
            "or run `make setup` in the repository to install the ROS 2 wheels into .venv"
        )
    use_dds_profile(os.environ)  # before any participant exists; children inherit it
    add_interfaces_to_path()
    prefix = workspace_install_dir()
    lib_dirs = os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)
    if prefix is not None and str(prefix / "lib") not in lib_dirs and not os.environ.get(_REEXEC_MARK):
        env = ros_environment()
        env[_REEXEC_MARK] = "1"
        args = sys.argv[1:] if argv is None else argv
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", "parse_vos_ros.cli", *args], env)
    if not _interfaces_importable():
        raise RosUnavailableError(
            "parse_vos_ros.msg is not importable: run `make setup` (builds ros2_ws), or on a ROS 2 "
            "machine `colcon build` in ros2_ws and source ros2_ws/install/setup.bash"
        )
