"""Rewrite the stale build-machine include paths in the ROS 2 wheels' CMake export files.

The PyPI ROS 2 wheels were built under ``/opt/python/cp311-cp311``; their
``*Export.cmake`` files name that Python's include directory and numpy's, which do not exist
here, so ``colcon build`` of any package with messages fails. This points them at the include
directories of the Python running this script. Idempotent.

Usage: python scripts/fix_ros_wheels.py VENV_DIR
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy as np

STALE_PREFIX = "/opt/python/cp311-cp311"


def fix(venv: Path) -> int:
    """Rewrite every export file under ``venv/share``; returns how many files changed."""
    python_include = sysconfig.get_paths()["include"]
    numpy_include = np.get_include()
    numpy_pattern = re.compile(re.escape(STALE_PREFIX) + r"/lib/python3\.\d+/site-packages/numpy/_core/include")
    python_pattern = re.compile(re.escape(STALE_PREFIX) + r"/include/python3\.\d+")
    changed = 0
    for path in sorted((venv / "share").glob("*/cmake/*Export.cmake")):
        text = path.read_text(encoding="utf-8")
        if STALE_PREFIX not in text:
            continue
        text = numpy_pattern.sub(numpy_include, text)
        text = python_pattern.sub(python_include, text)
        path.write_text(text, encoding="utf-8")
        changed += 1
    return changed


if __name__ == "__main__":
    n = fix(Path(sys.argv[1]))
    print(f"fixed {n} CMake export file(s)")
