"""scripts/size_cue.py: the window arithmetic on a hand-made walker, and the real detector on
20 s of people walking (the shared vtest.avi)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, shared_path

SCRIPT = REPO / "scripts" / "size_cue.py"


def load_script():
    spec = importlib.util.spec_from_file_location("size_cue", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_windows_read_each_size_against_the_foot_point() -> None:
    """A person walking closer for 3 s at 10 fps: the foot point moves down, the height grows
    (+0.2 /s), the width shrinks as they turn (-0.3 /s); a window touching the border is left out."""
    size_cue = load_script()
    t = np.arange(30)
    height, width = 100 * np.exp(0.02 * t), 40 * np.exp(-0.03 * t)
    bottom = 300 + 4.0 * t
    track = [(int(i), np.array([300 - width[i] / 2, bottom[i] - height[i], 300 + width[i] / 2, bottom[i]]),
              np.array([height[i], width[i], height[i] * width[i]])) for i in t]
    rows = size_cue.windows([track], 10.0, (640, 480), 1.5)
    assert len(rows) == 3  # 15-frame windows from frames 0, 7 and 14
    assert (rows[:, 0] > 0).all()  # the foot point comes down: closer
    assert rows[:, 1] == pytest.approx(0.2) and rows[:, 2] == pytest.approx(-0.3)
    assert rows[:, 3] == pytest.approx(-0.05)  # sqrt(area): (0.2 - 0.3) / 2
    track[20] = (20, np.array([0.0, 200.0, 40.0, 380.0]), track[20][2])  # at the left edge
    assert len(size_cue.windows([track], 10.0, (640, 480), 1.5)) == 1


@pytest.mark.shared_data
def test_height_tells_approach_best_on_real_walkers(tmp_path: Path) -> None:
    clip = tmp_path / "walkers.avi"
    import cv2

    capture, writer = cv2.VideoCapture(str(shared_path("data", "video", "vtest.avi"))), None
    for _ in range(200):  # 20 s
        ok, frame = capture.read()
        if not ok:
            break
        if writer is None:
            writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, frame.shape[1::-1])
        writer.write(frame)
    writer.release()
    out = tmp_path / "cue.json"
    subprocess.run([sys.executable, str(SCRIPT), str(clip), "--out", str(out)], check=True, timeout=300,
                   capture_output=True)
    report = json.loads(out.read_text())["foot_speed_over_0.1"]
    assert report["windows"] >= 50
    assert report["height"]["agrees"] > report["sqrt_area"]["agrees"] > 0.5
