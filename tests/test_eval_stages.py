"""Per-stage eval scores (detection recall, best-candidate IoU, selected IoU): hand-built cases
through ``StageProbe``, then the whole ``parse-vos eval`` run reporting them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from test_eval_cli import dataset, doubles_engine, options  # noqa: F401 (a fixture)

from parse_vos_ros.eval.runner import EvalOptions, run_eval
from parse_vos_ros.eval.stages import StageProbe, mean_stages
from parse_vos_ros.geometry import mask_iou
from parse_vos_ros.types import Detection, FrameContext

H, W = 40, 60


def square(x: int, y: int, side: int, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y : y + side, x : x + side] = True
    return m


class _Detector:
    def __init__(self, boxes: list[np.ndarray]) -> None:
        self.boxes = boxes
        self.resets = 0

    def detect(self, frame: FrameContext, phrases: Sequence[str]) -> list[Detection]:
        return [Detection(b, 0.9, phrases[0]) for b in self.boxes]

    def reset(self) -> None:
        self.resets += 1


class _Engine:
    """Works at half the ground truth's resolution like the real engine's working width: two
    tracks, the right one (top-left square) and a wrong one; the output is the wrong one."""

    def __init__(self) -> None:
        # The detector finds the object on keyframes (even frames), in working pixels.
        self.detector = _Detector([np.array([5.0, 5.0, 15.0, 15.0]), np.array([20.0, 10.0, 25.0, 15.0])])
        self.track_masks: dict[int, np.ndarray] = {}
        self.index = 0

    def push_frame(self, image: np.ndarray, stamp: float) -> np.ndarray:
        small = image[::2, ::2]
        if self.index % 2 == 0:
            self.detector.detect(FrameContext(self.index, stamp, small, small[..., 0]), ["ball"])
        self.track_masks = {1: square(5, 5, 10, (H // 2, W // 2)), 2: square(20, 10, 5, (H // 2, W // 2))}
        self.index += 1
        return square(40, 20, 10)  # the wrong object at full resolution

    def reset(self) -> None:
        self.detector.reset()


def test_probe_scores_each_stage_and_restores_the_engine() -> None:
    gt = np.stack([square(10, 10, 20)] * 4)  # the object, at full resolution
    engine = _Engine()
    detector = engine.detector
    probe = StageProbe(engine)
    assert StageProbe.supports(engine)
    probe.watch(gt)
    with probe:
        outputs = [engine.push_frame(np.zeros((H, W, 3), np.uint8), t / 30) for t in range(4)]
        engine.reset()  # the engine asks its (wrapped) detector for a reset: passed through
    assert engine.detector is detector and detector.resets == 1
    assert "push_frame" not in vars(engine)  # the class's method again
    scores = probe.scores(gt, outputs)
    assert scores["keyframes"] == 2
    assert scores["detection_recall"] == 1.0 and scores["detection_best_iou"] == pytest.approx(1.0)
    assert scores["best_candidate_iou"] == pytest.approx(1.0)  # the right track was there
    assert scores["selected_iou"] == 0.0  # and the output was the wrong one: the loss is the choice


def test_probe_counts_a_missed_detection_and_empty_frames() -> None:
    gt = np.stack([square(10, 10, 20), np.zeros((H, W), bool)])
    engine = _Engine()
    engine.detector.boxes = [np.array([0.0, 0.0, 8.0, 8.0])]  # overlaps the object's box at IoU 9/155
    probe = StageProbe(engine)
    probe.watch(gt)
    with probe:
        outputs = [engine.push_frame(np.zeros((H, W, 3), np.uint8), t / 30) for t in range(2)]
    scores = probe.scores(gt, [outputs[0], np.zeros((H, W), bool)])
    assert scores["keyframes"] == 1 and scores["detection_recall"] == 0.0
    assert scores["detection_best_iou"] == pytest.approx(9 / 155)
    # Frame 1 has no object: choosing nothing is perfect (1), and the empty output scores 1.
    assert scores["best_candidate_iou"] == pytest.approx(1.0)
    assert scores["selected_iou"] == pytest.approx(0.5)


def test_helpers() -> None:
    assert mask_iou(np.zeros((3, 3), bool), np.zeros((3, 3), bool), empty=1.0) == 1.0
    rows = [{"detection_recall": 1.0, "selected_iou": 0.2}, {"detection_recall": 0.5}]
    assert mean_stages(rows) == {"detection_recall": 0.75, "selected_iou": 0.2}
    assert not StageProbe.supports(object())


def test_eval_reports_stages_per_sequence_and_overall(dataset: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "stages"
    metrics = run_eval(options(dataset, out, mode="streaming"), stream=None, factory=doubles_engine)
    exps = metrics["expressions"]
    for key in ("balls/0", "balls/1"):
        stages = exps[key]["stages"]
        assert stages["detection_recall"] == 1.0, stages  # each ball is a red blob the double finds
        assert stages["best_candidate_iou"] >= stages["selected_iou"] - 1e-9
        assert stages["selected_iou"] == pytest.approx(exps[key]["J"], abs=1e-6)
    overall = metrics["overall_stages"]
    assert set(overall) == {"detection_recall", "detection_best_iou", "best_candidate_iou", "selected_iou"}
    assert metrics["sequences"]["balls"]["stages"]["selected_iou"] == pytest.approx(overall["selected_iou"])
    report = (out / "report.md").read_text()
    assert "## Per stage" in report and "best-candidate IoU" in report


@pytest.mark.parametrize("mode", ["streaming", "offline"])
def test_eval_with_depth_and_ground_truth_scores_stages_and_position(tmp_path: Path, mode: str) -> None:
    # The probe wraps push_frame; the depth keyword must reach the engine through it.
    from parse_vos_ros.synth import write_dataset

    write_dataset(tmp_path / "synth", 4, 1, 6, (96, 72), depth=True)
    out = tmp_path / "run"
    opts = EvalOptions(dataset="synth", root=tmp_path / "synth", expressions=None, out=out, mode=mode, limit=1)
    metrics = run_eval(opts, stream=None, factory=doubles_engine)
    assert metrics["counts"]["failed"] == 0, metrics["counts"]
    (item,) = metrics["expressions"].values()
    assert "stages" in item
    result = json.loads(next(out.rglob("result.json")).read_text())
    assert result["status"] == "ok" and "position_3d" in result, result.get("error")
