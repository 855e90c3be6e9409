"""rosbag2 tools: make/read round trips (sqlite3 and mcap), scoring, the CLI, offline evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path
from ros_support import FakeEngine
from rosbags.rosbag2 import Reader

from parse_vos_ros.cli import main
from parse_vos_ros.ros import bag


def red_square_frames(count: int, h: int = 48, w: int = 64) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames with a red square moving right on gray noise, and its exact masks."""
    rng = np.random.default_rng(3)
    frames, masks = [], []
    for i in range(count):
        frame = rng.integers(0, 120, size=(h, w, 3), dtype=np.uint8)
        mask = np.zeros((h, w), bool)
        mask[10:22, 4 + 2 * i: 16 + 2 * i] = True
        frame[mask] = (250, 20, 20)
        frames.append(frame)
        masks.append(mask)
    return frames, masks


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_make_and_read_round_trip(tmp_path: Path, storage: str) -> None:
    frames, masks = red_square_frames(6)
    commands = [bag.TimedCommand(1000.05, "the red square", "a"), bag.TimedCommand(1000.1, "the box", "b")]
    n = bag.make_bag(tmp_path / "b", frames, fps=20.0, commands=commands, gt_masks=masks, storage=storage)
    assert n == 6
    assert not list(tmp_path.glob(".*")), "staging folder left behind"
    contents = bag.read_bag(tmp_path / "b")
    assert contents.stamps == pytest.approx([1000.0 + i / 20 for i in range(6)])
    assert contents.commands == commands
    for frame, got in zip(frames, contents.images, strict=True):
        np.testing.assert_array_equal(frame, got)
    for stamp, mask in zip(contents.stamps, masks, strict=True):
        np.testing.assert_array_equal(contents.gt[bag.stamp_ns(stamp)], mask)
    suffix = {"sqlite3": ".db3", "mcap": ".mcap"}[storage]
    assert (tmp_path / "b" / f"b{suffix}").is_file()  # the storage file is named after the bag
    assert f"storage_identifier: {storage}" in (tmp_path / "b" / "metadata.yaml").read_text()
    with Reader(tmp_path / "b") as reader:
        assert {c.topic for c in reader.connections} == {bag.IMAGE_TOPIC, bag.COMMAND_TOPIC, bag.GT_TOPIC}
        # Log time equals the header stamp, so replay timing is the capture timing.
        times = [t for c, t, _ in reader.messages(reader.connections) if c.topic == bag.IMAGE_TOPIC]
        assert times == [bag.stamp_ns(s) for s in contents.stamps]


def test_make_refuses_bad_input_and_leaves_nothing(tmp_path: Path) -> None:
    frames, masks = red_square_frames(4)
    with pytest.raises(bag.BagError, match="fewer ground-truth masks"):
        bag.make_bag(tmp_path / "short", frames, gt_masks=masks[:2])
    assert not (tmp_path / "short").exists() and not list(tmp_path.iterdir())
    bag.make_bag(tmp_path / "ok", frames)
    with pytest.raises(bag.BagError, match="already exists"):
        bag.make_bag(tmp_path / "ok", frames)
    with pytest.raises(bag.BagError, match="unknown storage"):
        bag.make_bag(tmp_path / "x", frames, storage="rosbag1")
    with pytest.raises(bag.BagError, match="SECONDS:TEXT"):
        bag.parse_timed_command("the dog")
    assert bag.parse_timed_command("2.5: the dog ") == bag.TimedCommand(2.5, "the dog")


def test_score_holds_last_prediction_and_reports_coverage(tmp_path: Path) -> None:
    frames, masks = red_square_frames(5)
    bag.make_bag(tmp_path / "b", frames, commands=[bag.TimedCommand(1000.0, "x")], gt_masks=masks)
    contents = bag.read_bag(tmp_path / "b")
    keys = [bag.stamp_ns(s) for s in contents.stamps]
    perfect = bag.score(contents, {k: contents.gt[k] for k in keys})
    assert perfect.summary["J&F"] == pytest.approx(1.0) and perfect.summary["coverage"] == 1.0
    # Only every other output: the held masks lag one frame behind, so J drops below 1.
    sparse = bag.score(contents, {k: contents.gt[k] for k in keys[::2]})
    assert sparse.summary["coverage"] == pytest.approx(3 / 5)
    assert 0.3 < sparse.summary["J"] < 1.0
    empty = bag.score(contents, {})
    assert empty.summary["J"] == pytest.approx(0.0)


def test_offline_run_applies_commands_at_their_stamps(tmp_path: Path) -> None:
    frames, masks = red_square_frames(8)
    # The command arrives at the 4th frame: earlier frames have empty predictions, later are exact.
    bag.make_bag(tmp_path / "b", frames, fps=10.0, commands=[bag.TimedCommand(1000.3, "the red square", "c")],
                 gt_masks=masks)
    contents = bag.read_bag(tmp_path / "b")
    seen = []
    predictions = bag.run_offline(contents, FakeEngine(None), on_frame=lambda i, r: seen.append(r.command_id))
    assert seen == ["", "", "", "c", "c", "c", "c", "c"]
    assert not predictions[bag.stamp_ns(contents.stamps[2])].any()
    result = bag.score(contents, predictions)
    assert result.summary["J&F"] == pytest.approx(1.0) and result.summary["frames"] == 5


@pytest.mark.shared_data
def test_cli_make_from_video_and_from_davis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = shared_path("data", "video", "vtest.avi")
    assert main(["bag", "make", str(tmp_path / "v"), "--frames", str(video), "--max-frames", "5",
                 "--max-width", "320", "--command", "0:the person walking left", "--storage", "mcap"]) == 0
    contents = bag.read_bag(tmp_path / "v")
    assert len(contents.images) == 5 and contents.images[0].shape[1] == 320
    assert contents.commands[0].text == "the person walking left" and contents.commands[0].stamp == 1000.0
    davis = shared_path("data", "davis2016")
    seq = "blackswan"
    assert main(["bag", "make", str(tmp_path / "d"), "--frames", str(davis / "JPEGImages/480p" / seq),
                 "--gt", str(davis / "Annotations/480p" / seq), "--max-frames", "4", "--max-width", "214",
                 "--command", "0:the black swan"]) == 0
    contents = bag.read_bag(tmp_path / "d")
    assert len(contents.gt) == 4
    gt = next(iter(contents.gt.values()))
    assert gt.shape == contents.images[0].shape[:2] and 0.01 < gt.mean() < 0.5
    assert main(["bag", "make", str(tmp_path / "e"), "--frames", str(tmp_path / "none")]) == 2
    assert "neither an image folder nor a video" in capsys.readouterr().err


def test_cli_eval_offline_writes_summary_and_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames, masks = red_square_frames(6)
    bag.make_bag(tmp_path / "b", frames, commands=[bag.TimedCommand(1000.0, "the red square", "c")], gt_masks=masks)
    # The offline path builds parse_vos_ros.engine.Engine; swap in the test double to check plumbing.
    import parse_vos_ros.engine as engine_module

    class ContextFake(FakeEngine):
        def __enter__(self) -> ContextFake:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    monkeypatch.setattr(engine_module, "Engine", ContextFake)
    out = tmp_path / "out"
    assert main(["bag", "eval", "--offline", str(tmp_path / "b"), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["J&F"] == pytest.approx(1.0) and summary["outputs"] == 6 and summary["mode"] == "offline"
    assert len(json.loads((out / "per_frame.json").read_text())) == 6
    assert (out / "overlay.mp4").stat().st_size > 1000
