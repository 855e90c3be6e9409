"""Shared fixtures and skip rules.

Tests that need ``../shared`` data say so with the ``shared_data`` marker and are skipped
when it is absent; tests that need ROS 2 use the ``ros`` marker.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PARSE_VOS_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared; skips the calling test when it does not exist."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs shared data at {path} (not part of the repository)")
    return path


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs = {"ros": "rclpy", "llama": "llama_cpp", "ml": "transformers"}
    for item in items:
        for marker, module in needs.items():
            if marker in item.keywords and not has_module(module):
                item.add_marker(pytest.mark.skip(reason=f"{module} is not installed"))
