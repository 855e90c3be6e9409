"""`parse-vos segment` end to end on the bundled demo clip with the default (embedded) profile."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from parse_vos_ros.cli import main

# The default profile's embedded detector lands with issue 3 part B; until then there is nothing to run.
pytest.importorskip("parse_vos_ros.grounding.embedded")

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "samples" / "balls"


def _ball_masks(index: int) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth of the demo clip (scripts/make_demo_sample.py geometry)."""
    yy, xx = np.mgrid[0:240, 0:320]
    right = (xx - (60 + 1.7 * index)) ** 2 + (yy - 85) ** 2 <= 17**2
    left = (xx - (260 - 3.3 * index)) ** 2 + (yy - 160) ** 2 <= 17**2
    return right, left


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return np.count_nonzero(a & b) / max(1, np.count_nonzero(a | b))


@pytest.mark.parametrize("offline", [False, True])
def test_segment_demo_writes_masks_video_and_trace(tmp_path: Path, offline: bool, capsys) -> None:
    out = tmp_path / "demo"
    argv = ["segment", str(DEMO), "--command", "the ball moving to the right", "--out", str(out)]
    assert main([*argv, "--offline"] if offline else argv) == 0
    printed = capsys.readouterr().out
    assert str(out / "result.json") in printed
    masks = sorted((out / "masks").glob("*.png"))
    assert len(masks) == 60
    result = json.loads((out / "result.json").read_text())
    assert result["command"]["candidates"] == ["ball"] and result["mode"] == ("offline" if offline else "streaming")
    assert len(result["frames"]) == 60 and result["traces"]
    assert {f["state"] for f in result["frames"]} <= {"searching", "tracking", "ambiguous", "lost"}
    assert any(p.name.startswith("overlay.") for p in out.iterdir())
    good = 0
    for i in range(0, 60, 3):
        pred = cv2.imread(str(masks[i]), cv2.IMREAD_GRAYSCALE) > 0
        right, _ = _ball_masks(i)
        good += _iou(pred, right) > 0.6
    assert good >= 16, good  # the ball moving right, not its look-alike, on most frames


def test_segment_errors_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["segment", str(tmp_path / "nope"), "--command", "the ball", "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["segment", str(DEMO), "--command", "  ", "--out", str(tmp_path / "o")]) == 2
    assert "cannot parse" in capsys.readouterr().err
    assert (
        main(["segment", str(DEMO), "--command", "x ball", "--out", str(tmp_path / "o"), "--set", "engine.nope=1"]) == 2
    )
    assert "engine.nope" in capsys.readouterr().err
