"""The real-robot path: a full `colcon build` (messages + Python package + node script) of this
repository, then a plain shell that sources install/setup.sh runs the node entry point.

Uses the ROS 2 wheels in .venv as the underlay, the way /opt/ros/<distro> is used on a robot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


def test_full_colcon_build_installs_package_and_node(tmp_path: Path) -> None:
    venv = Path(sys.prefix)
    colcon = venv / "bin" / "colcon"
    if not colcon.exists() or not (venv / "share" / "rosidl_default_generators").is_dir():
        pytest.skip("colcon and the ROS 2 build wheels are not installed in this environment")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "parse_vos_ros").symlink_to(REPO)
    env = {"HOME": os.environ.get("HOME", "/tmp"), "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
           "AMENT_PREFIX_PATH": str(venv), "CMAKE_PREFIX_PATH": str(venv)}
    build = subprocess.run(
        [str(colcon), "--log-base", "log", "build", "--event-handlers", "console_direct-",
         "--cmake-args", f"-DPython3_EXECUTABLE={venv / 'bin' / 'python'}", "-DBUILD_TESTING=OFF"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    prefix = tmp_path / "install" / "parse_vos_ros"
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert (site / "parse_vos_ros" / "cli.py").is_file()
    assert (site / "parse_vos_ros" / "msg" / "__init__.py").is_file()
    for profile in ("default", "weightfree", "paper", "jetson"):
        assert (prefix / "share" / "parse_vos_ros" / "config" / f"{profile}.yaml").is_file(), profile
    script = prefix / "lib" / "parse_vos_ros" / "parse_vos_node"
    assert os.access(script, os.X_OK)
    check = (
        ". install/setup.sh && python -c 'import parse_vos_ros, parse_vos_ros.msg as m; "
        "print(parse_vos_ros.__file__); print(m.TargetSegmentation.STATE_LOST)' && "
        f"{script} --help && {script} --dds-profile"
    )
    run = subprocess.run(["bash", "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith(str(site)), "the installed copy must be the one imported"
    assert lines[1] == "4"
    assert "usage: parse-vos node" in run.stdout
    # The Fast DDS profile for camera-sized images ships with the installed package.
    assert lines[-1] == str(site / "parse_vos_ros" / "ros" / "fastdds_large_images.xml") and Path(lines[-1]).is_file()
    shutil.rmtree(tmp_path / "build", ignore_errors=True)
