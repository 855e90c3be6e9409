"""`parse-vos eval` end to end: the real Engine (rule parser and reasoner) on a small DAVIS-layout
dataset of two look-alike red balls, with the red-blob detector/segmenter doubles of the engine
tests so it runs without the embedded perception backends; plus resume, workers, failures,
the report files and the README table script."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest
from conftest import REPO
from engine_doubles import RedBlobDetector, RedBlobSegmenter, two_balls

from parse_vos_ros.cli import main
from parse_vos_ros.config import Config
from parse_vos_ros.engine import Engine
from parse_vos_ros.eval.maskio import read_ids, read_mask, write_ids
from parse_vos_ros.eval.metrics import evaluate_sequence
from parse_vos_ros.eval.runner import EvalOptions, run_eval

BUILDS: list[int] = []
FRAMES = 24


def doubles_engine(config: Config) -> Engine:
    """Engine factory used by the tests (also by name, ``test_eval_cli:doubles_engine``)."""
    BUILDS.append(1)
    return Engine(config, detector=RedBlobDetector(), segmenter=RedBlobSegmenter())


class _Exploding(Engine):
    def set_command(self, command, stamp=None, command_id=""):  # type: ignore[no-untyped-def]
        if "left" in str(command):
            raise RuntimeError("boom on purpose")
        return super().set_command(command, stamp, command_id)


def exploding_engine(config: Config) -> Engine:
    return _Exploding(config, detector=RedBlobDetector(), segmenter=RedBlobSegmenter())


class _SlowDetector(RedBlobDetector):
    """A detector that takes 0.1 s, and says when it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.running = False

    def detect(self, frame, phrases):  # type: ignore[no-untyped-def]
        self.running = True
        time.sleep(0.1)
        self.running = False
        return super().detect(frame, phrases)


class _FirstFrames(Engine):
    """Records, at each clip's first frame, whether the last clip's detection still ran."""

    overlapped: ClassVar[list[bool]] = []

    def reset(self) -> None:
        super().reset()
        self._first = True

    def push_frame(self, image, stamp, **kw):  # type: ignore[no-untyped-def]
        if getattr(self, "_first", False):
            _FirstFrames.overlapped.append(self.detector.running)
            self._first = False
        return super().push_frame(image, stamp, **kw)


def slow_engine(config: Config) -> Engine:
    return _FirstFrames(config, detector=_SlowDetector(), segmenter=RedBlobSegmenter())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DAVIS layout: ball 1 moves right, ball 2 (identical) moves left; the camera pans."""
    root = tmp_path_factory.mktemp("balls")
    clip = two_balls(n=FRAMES, size=(160, 120), speed_px=2.0, pan_px=0.5)
    for t, frame in enumerate(clip.frames):
        path = root / "JPEGImages" / "balls" / f"{t:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 98])
        ids = np.zeros(frame.shape[:2], np.uint8)
        ids[clip.masks[0][t]] = 1
        ids[clip.masks[1][t]] = 2
        write_ids(root / "Annotations" / "balls" / f"{t:05d}.png", ids)
    meta = {
        "videos": {
            "balls": {
                "expressions": {
                    "0": {"exp": "the ball moving to the right", "obj_id": [1], "focus": "motion"},
                    "1": {"exp": "the ball moving to the left", "obj_id": [2], "focus": "motion"},
                    "2": {"exp": "the two balls", "obj_id": [1, 2], "focus": "appearance"},
                }
            }
        }
    }
    (root / "meta_expressions.json").write_text(json.dumps(meta))
    return root


def options(dataset: Path, out: Path, **kw: object) -> EvalOptions:
    return EvalOptions(dataset="davis", root=dataset, expressions=None, out=out, **kw)  # type: ignore[arg-type]


def eval_argv(dataset: str, root: Path, out: Path, *extra: str) -> list[str]:
    """``parse-vos eval`` arguments for ``dataset`` under ``root``, results in ``out``."""
    return ["eval", "--dataset", dataset, "--root", str(root), "--out", str(out), *extra]


def test_offline_eval_scores_resumes_and_reports(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    BUILDS.clear()
    metrics = run_eval(options(dataset, out), stream=None, factory=doubles_engine)
    assert len(BUILDS) == 1  # one engine for the whole run
    exps = metrics["expressions"]
    assert set(exps) == {"balls/0", "balls/1", "balls/2"}
    # Look-alikes told apart by motion: each sentence gets its own ball.
    assert exps["balls/0"]["J&F"] > 0.8 and exps["balls/1"]["J&F"] > 0.8, exps
    assert exps["balls/2"]["J&F"] > 0.8
    assert metrics["overall"]["count"] == 3 and metrics["counts"]["failed"] == 0
    assert set(metrics["splits"]["focus"]) == {"motion", "appearance"}
    assert metrics["mode"] == "offline" and metrics["profile"] == "default"
    assert "first and last included" in metrics["convention"]
    assert metrics["timing"]["frames"] == 3 * FRAMES and metrics["timing"]["fps"] > 0

    # The written masks re-score to the same numbers (what `parse-vos metrics` would report).
    ann = sorted((dataset / "Annotations" / "balls").glob("*.png"))
    ball_1 = np.stack([read_ids(p) == 1 for p in ann])
    preds = np.stack([read_mask(p) for p in sorted((out / "masks" / "balls" / "0").glob("*.png"))])
    assert evaluate_sequence(ball_1, preds).summary()["J&F"] == pytest.approx(exps["balls/0"]["J&F"])

    # Report, plots and overlay videos.
    report = (out / "report.md").read_text()
    assert "| mean over expressions |" in report and "the ball moving to the left" in report
    for name in ("per_sequence.png", "jf_vs_frame.png", "failure_gallery.png"):
        assert cv2.imread(str(out / "plots" / name)) is not None, name
    videos = sorted((out / "overlays").glob("*.mp4"))
    assert len(videos) == 3
    assert cv2.VideoCapture(str(videos[0])).get(cv2.CAP_PROP_FRAME_COUNT) == FRAMES
    per_frame = json.loads((out / "per_frame.json").read_text())
    assert len(per_frame["balls/0"]) == FRAMES

    # Resume: nothing left to do, no engine is built, same numbers.
    again = run_eval(options(dataset, out), stream=None, factory=doubles_engine, report=False)
    assert len(BUILDS) == 1 and again["overall"] == metrics["overall"]
    # One result removed: only that expression runs again.
    (out / "items" / "balls" / "1" / "result.json").unlink()
    third = run_eval(options(dataset, out), stream=None, factory=doubles_engine, report=False)
    assert len(BUILDS) == 2 and third["expressions"]["balls/1"]["J&F"] == pytest.approx(exps["balls/1"]["J&F"])
    # Another configuration does not reuse the stored results.
    other = run_eval(
        options(dataset, out, overrides={"engine.keyframe_interval": 5}, limit=1),
        stream=None,
        factory=doubles_engine,
        report=False,
    )
    assert len(BUILDS) == 3 and other["counts"]["expressions"] == 1
    # Nor does a changed expression file (e.g. a regenerated synthetic set).
    meta = json.loads((dataset / "meta_expressions.json").read_text())
    meta["videos"]["balls"]["expressions"]["0"]["exp"] = "the ball going right"
    (tmp_path / "meta2.json").write_text(json.dumps(meta))
    changed = EvalOptions(dataset="davis", root=dataset, expressions=tmp_path / "meta2.json", out=out, limit=1)
    rerun = run_eval(changed, stream=None, factory=doubles_engine, report=False)
    assert len(BUILDS) == 4 and rerun["expressions"]["balls/0"]["text"] == "the ball going right"


def test_streaming_cli_with_two_workers(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "stream"
    args = eval_argv("davis", dataset, out, "--mode", "streaming", "--workers", "2",
                     "--engine-factory", "test_eval_cli:doubles_engine", "--no-report")
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "davis (streaming, profile default): J&F" in captured.out
    assert "eval [" in captured.err  # progress bar
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == "streaming" and metrics["timing"]["workers"] == 2
    # Causal: the first frames are spent searching, so streaming scores no better than the end state.
    states = metrics["expressions"]["balls/0"]["states"]
    assert sum(states.values()) == FRAMES
    assert metrics["overall"]["J&F"] > 0.5
    assert not (out / "report.md").exists()


def test_realtime_streaming_feeds_frames_at_the_video_rate(dataset: Path, tmp_path: Path, capsys) -> None:
    """``--realtime`` hands each video's frames to the engine at the video's frame rate (DAVIS: 24
    fps), here to an engine with keyframes in its worker thread; it is refused outside streaming."""
    out = tmp_path / "realtime"
    args = ["eval", "--dataset", "davis", "--root", str(dataset), "--out", str(out), "--mode", "streaming",
            "--engine-factory", "test_eval_cli:doubles_engine", "--no-report", "--limit", "1",
            "--set", "engine.async_keyframes=true", "--realtime"]
    assert main(args) == 0
    assert "davis (streaming, real time, profile default): J&F" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["realtime"] is True
    assert metrics["timing"]["engine_s"] >= (FRAMES - 1) / 24.0  # paced: no faster than the camera
    assert metrics["overall"]["J&F"] > 0.5
    assert main(["offline" if a == "streaming" else a for a in args]) == 2
    assert "--realtime paces a stream" in capsys.readouterr().err


def test_each_clip_starts_after_the_last_clips_keyframe_work(dataset: Path, tmp_path: Path) -> None:
    """With keyframes in the worker, a clip's last detection can still run when the next clip
    starts; the runner waits for it (``Engine.settle``) so a clip's result does not depend on
    the one before it. The detector takes 0.1 s and frames come back to back."""
    _FirstFrames.overlapped.clear()
    opts = options(dataset, tmp_path / "settled", mode="streaming", overrides={"engine.async_keyframes": True},
                   profile="default")
    metrics = run_eval(opts, stream=None, factory=slow_engine, report=False)
    assert metrics["counts"]["failed"] == 0
    assert _FirstFrames.overlapped == [False, False, False]


def test_failed_expressions_are_scored_zero_and_reported(dataset: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "fail"
    assert main(eval_argv("davis", dataset, out, "--engine-factory", "test_eval_cli:exploding_engine")) == 1
    assert "1 expression(s) failed" in capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert "boom on purpose" in metrics["failed"]["balls/1"]
    assert metrics["expressions"]["balls/1"]["J&F"] == 0.0
    ok = [metrics["expressions"][k]["J&F"] for k in ("balls/0", "balls/2")]
    assert metrics["overall"]["J&F"] == pytest.approx(sum(ok) / 3)
    assert "## Failures (scored 0)" in (out / "report.md").read_text()


def test_bad_inputs_are_clear_errors(dataset: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "x"
    assert main(eval_argv("davis", tmp_path / "missing", out)) == 2
    assert "dataset root not found" in capsys.readouterr().err
    assert main(eval_argv("davis", dataset, out, "--set", "engine.window_s=-1")) == 2
    assert "engine.window_s" in capsys.readouterr().err
    assert main(eval_argv("davis", dataset, out, "--engine-factory", "nope.module:f")) == 2
    assert "engine factory" in capsys.readouterr().err


def test_readme_table_script(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_eval(options(dataset, out), stream=None, factory=doubles_engine, report=False)
    metrics = json.loads((out / "metrics.json").read_text())
    script = REPO / "scripts" / "update_readme_results.py"
    done = subprocess.run(
        [sys.executable, str(script), str(out / "metrics.json")], capture_output=True, text=True, timeout=60, check=True
    )
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("| Dataset | Profile | Mode |")
    row = next(line for line in lines if line.startswith("| davis |"))
    assert f"{metrics['overall']['J&F']:.3f}" in row and "offline" in row and metrics["machine"]["cpu"] in row
    assert any(line.startswith("| davis · focus=motion |") for line in lines)
    # A streaming run's row says how frames came and where keyframes ran.
    variants = {"rt": {"realtime": True, "overrides": {}}, "sync": {"overrides": {"engine.async_keyframes": False}}}
    for name, fields in variants.items():
        (tmp_path / f"{name}.json").write_text(json.dumps({**metrics, "mode": "streaming", **fields}))
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "rt.json"), str(tmp_path / "sync.json")],
                          capture_output=True, text=True, timeout=60, check=True)
    modes = [line.split(" | ")[2] for line in done.stdout.splitlines() if line.startswith("| davis |")]
    assert modes == ["streaming, real time", "streaming, sync keyframes"]


def test_refytvos_writes_submission_pngs(dataset: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "ytvos"
    frames = sorted((dataset / "JPEGImages" / "balls").glob("*.jpg"))[:6]
    target = root / "valid" / "JPEGImages" / "vid"
    target.mkdir(parents=True)
    for path in frames:
        (target / path.name).write_bytes(path.read_bytes())
    meta = {"videos": {"vid": {"frames": [p.stem for p in frames], "expressions": {"0": {"exp": "the two balls"}}}}}
    (root / "meta_expressions" / "valid").mkdir(parents=True)
    (root / "meta_expressions" / "valid" / "meta_expressions.json").write_text(json.dumps(meta))
    out = tmp_path / "sub"
    assert main(eval_argv("refytvos", root, out, "--engine-factory", "test_eval_cli:doubles_engine")) == 0
    assert "no ground truth" in capsys.readouterr().out
    pngs = sorted((out / "Annotations" / "vid" / "0").glob("*.png"))
    assert [p.stem for p in pngs] == [p.stem for p in frames]
    assert read_mask(pngs[-1]).sum() > 100  # both balls found
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["overall"] == {} and metrics["split"] == "valid"
    assert "submission layout" in (out / "report.md").read_text()
    assert len(list((out / "overlays").glob("*.mp4"))) == 1
