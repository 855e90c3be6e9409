"""The default (learned) profile end to end on the bundled bedroom clip (a boy and a girl jumping on
a bed, 60 frames).

A command naming a thing never answers with one of the two children. The weight-free cues, the
last resort for a noun no model finds here ("the round mirror": ImageNet has none), box what moves
or stands out: the children. The detector rules out what YOLOX surely names a person for a phrase
of no group (``Detection.rules_out``), and the engine drops the cues' tracks that are one
(``Candidates._rule_out``). Before that, these commands ended on a child in 35-45 of the 60 frames.

A colour worn tells the children apart: "the kid in black" is the boy in his black and white shirt
while both are in view ("in black" is a pose phrase; the detector is asked for "kid in black",
``vocabulary.detection_phrases``). Before, every such command answered with the girl, the larger
and livelier of the two.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from parse_vos_ros.backends import build_detector
from parse_vos_ros.cli import main
from parse_vos_ros.config import load_config

pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert")

CLIP = Path(__file__).resolve().parents[1] / "samples" / "bedroom"
CHILD_SCORE = 0.5  # a person box counted as a child (below the detector's OTHER_SCORE: stricter)
ON_A_CHILD = 0.5  # an output mask with this share of its pixels inside a child's box is on the child
# Frames allowed on a child: a cue may start a track on the boy while he is half hidden behind the
# girl and YOLOX is unsure of him (below OTHER_SCORE, though the count here takes him at 0.5). Async
# keyframes make the count vary from run to run (0-2 seen, 44-45 before).
AT_MOST_ON_A_CHILD = 4
START_FRAMES = 30  # the boy is in plain view on the first 9 frames, then behind the girl


@pytest.fixture(scope="module")
def children() -> dict[int, np.ndarray]:
    """``{frame: (M, 4) xyxy}`` boxes YOLOX names persons (``CHILD_SCORE``), per frame of the clip."""
    yolox = build_detector(load_config(None, {"grounding.backend": "learned"})).yolox
    out = {}
    for path in sorted(CLIP.glob("*.jpg")):
        found = yolox(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
        out[int(path.stem)] = found.boxes[(found.classes == 0) & (found.scores >= CHILD_SCORE)]
    assert sum(len(b) for b in out.values()) >= len(out)  # a child in every frame at least
    return out


@pytest.mark.parametrize("command", ["the round mirror on the wall", "the lamp on the dresser", "the teddy bear"])
def test_a_thing_is_never_answered_with_a_child(tmp_path: Path, children: dict[int, np.ndarray], command: str) -> None:
    out = tmp_path / "seg"
    assert main(["segment", str(CLIP), "--command", command, "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    answered = on_a_child = 0
    for frame, boxes in children.items():
        mask = cv2.imread(str(out / "masks" / f"{frame:05d}.png"), cv2.IMREAD_GRAYSCALE) > 0
        if not mask.any():
            continue
        answered += 1
        inside = np.zeros(mask.shape, bool)
        for x0, y0, x1, y1 in np.round(boxes).astype(int):
            inside[max(0, y0):y1, max(0, x0):x1] = True
        on_a_child += np.count_nonzero(mask & inside) >= ON_A_CHILD * np.count_nonzero(mask)
    assert answered >= 30, result["frames"][-1]  # the cues still answer (with something else)
    assert on_a_child <= AT_MOST_ON_A_CHILD, [f["track_ids"] for f in result["frames"]]


def test_a_colour_worn_tells_the_children_apart(tmp_path: Path, children: dict[int, np.ndarray]) -> None:
    both = {frame: boxes for frame, boxes in children.items() if len(boxes) == 2}
    assert len(both) >= 8  # the boy is in plain view on the first frames and the last
    answers = {}
    for command in ("the kid in black", "the child in the blue skirt"):
        out = tmp_path / command.replace(" ", "_")
        assert main(["segment", str(CLIP), "--command", command, "--out", str(out)]) == 0
        answers[command] = on_the_boy = []
        for frame, boxes in both.items():
            hsv = cv2.cvtColor(cv2.imread(str(CLIP / f"{frame:05d}.jpg")), cv2.COLOR_BGR2HSV)
            dark = [np.mean(hsv[round(y0):round(y1), round(x0):round(x1), 2] < 50) for x0, y0, x1, y1 in boxes]
            boy, girl = (boxes[int(np.argmax(dark))], boxes[int(np.argmin(dark))])  # his shirt is black
            mask = cv2.imread(str(out / "masks" / f"{frame:05d}.png"), cv2.IMREAD_GRAYSCALE) > 0
            inside = [mask[round(y0):round(y1), round(x0):round(x1)].sum() for x0, y0, x1, y1 in (boy, girl)]
            on_the_boy.append(inside[0] > inside[1])
    # The boy while he is in view at the start (the first 9 frames; when he comes back at the end,
    # the tracker has lost him behind the girl). The first frame or two are still searching.
    start = [on for frame, on in zip(both, answers["the kid in black"], strict=True) if frame < START_FRAMES]
    assert len(start) >= 8 and sum(start) >= len(start) - 3, answers
    assert not any(answers["the child in the blue skirt"]), answers
