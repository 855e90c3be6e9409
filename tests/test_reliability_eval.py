"""Interrupted runs (issue 9): `parse-vos eval` killed with SIGKILL mid-run leaves only complete
files under their final names, the rerun resumes where it stopped and removes the temporary files a
killed writer left; a process killed inside ``atomic_write_bytes`` (what every result writer uses)
never leaves a torn file. Real processes, real files, real kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO
from engine_doubles import RedBlobDetector, RedBlobSegmenter, two_balls

from parse_vos_ros.config import Config
from parse_vos_ros.engine import Engine
from parse_vos_ros.eval.maskio import read_mask, write_ids
from parse_vos_ros.types import FrameResult

FRAMES = 12
VIDEOS = ("a", "b", "c")
FRAME_DELAY_S = 0.04  # per frame in the killed run, so the kill lands mid-run


class SlowEngine(Engine):
    """The real engine on red-blob doubles, slowed down per frame (a stand-in for a heavy model)."""

    def push_frame(self, image: np.ndarray, stamp: float) -> FrameResult:
        time.sleep(float(os.environ.get("PARSE_VOS_TEST_FRAME_DELAY_S", "0")))
        return super().push_frame(image, stamp)


def slow_engine(config: Config) -> Engine:
    """Engine factory used by name from the child process (``test_reliability_eval:slow_engine``)."""
    return SlowEngine(config, detector=RedBlobDetector(), segmenter=RedBlobSegmenter())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DAVIS layout, three videos of two balls, two expressions each."""
    root = tmp_path_factory.mktemp("interrupt")
    meta: dict[str, dict] = {"videos": {}}
    for n, video in enumerate(VIDEOS):
        clip = two_balls(n=FRAMES, size=(128, 96), speed_px=2.0, seed=n)
        for t, frame in enumerate(clip.frames):
            path = root / "JPEGImages" / video / f"{t:05d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 98])
            ids = np.zeros(frame.shape[:2], np.uint8)
            ids[clip.masks[0][t]], ids[clip.masks[1][t]] = 1, 2
            write_ids(root / "Annotations" / video / f"{t:05d}.png", ids)
        meta["videos"][video] = {"expressions": {
            "0": {"exp": "the ball moving to the right", "obj_id": [1]},
            "1": {"exp": "the ball moving to the left", "obj_id": [2]},
        }}  # fmt: skip
    (root / "meta_expressions.json").write_text(json.dumps(meta))
    return root


def eval_command(dataset: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "parse_vos_ros.cli", "eval", "--dataset", "davis", "--root", str(dataset),
            "--out", str(out), "--mode", "streaming", "--engine-factory", "test_reliability_eval:slow_engine",
            "--no-report"]


def child_env(delay_s: float) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), env.get("PYTHONPATH", "")])
    env["PARSE_VOS_TEST_FRAME_DELAY_S"] = str(delay_s)
    return env


def is_temp(path: Path) -> bool:
    """The names ``parse_vos_ros.atomic`` gives its temporary files (``.NAME.XXXX.tmpSUFFIX``)."""
    return path.name.startswith(".") and ".tmp" in path.name


def check_complete(out: Path) -> dict[str, int]:
    """Every file under its final name is complete; returns counts per kind."""
    counts = {"results": 0, "masks": 0, "temps": 0}
    for path in out.rglob("*"):
        if path.is_dir():
            continue
        if is_temp(path):
            counts["temps"] += 1
        elif path.suffix == ".json":
            json.loads(path.read_text())  # raises on a truncated file
            counts["results"] += path.name == "result.json"
        elif path.suffix == ".png":
            mask = read_mask(path)
            assert mask.shape == (96, 128), path
            counts["masks"] += 1
    return counts


def test_eval_killed_mid_run_leaves_complete_files_and_resumes(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    child = subprocess.Popen(eval_command(dataset, out), env=child_env(FRAME_DELAY_S), cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(list(out.rglob("result.json"))) < 2:
            assert child.poll() is None, child.communicate()
            time.sleep(0.02)
        # Kill while the next expression writes masks (no chance to clean up: SIGKILL).
        time.sleep(FRAME_DELAY_S * FRAMES * 0.8)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        if child.stdout:
            child.stdout.close()
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    done_before = {p.parent: p.stat().st_mtime_ns for p in out.rglob("result.json")}
    assert 2 <= len(done_before) < len(VIDEOS) * 2, "the kill must land mid-run"
    check_complete(out)
    assert not (out / "metrics.json").exists()
    # What a kill inside a mask write leaves (the window is too short to hit reliably): a hidden
    # temporary PNG that `parse-vos metrics` would glob as a prediction. The rerun removes it.
    stale = next(out.rglob("*.png")).parent / ".00003.png.k1ll3d_x.tmp.png"
    stale.write_bytes(b"\x89PNG half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))

    rerun = subprocess.run(eval_command(dataset, out), env=child_env(0.0), cwd=REPO, capture_output=True, text=True,
                           timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done_before)} expression(s) already done" in rerun.stderr
    assert "removed 1 temporary file(s) left by an interrupted run" in rerun.stderr
    # Finished expressions were not run again; the others were.
    after = {p.parent: p.stat().st_mtime_ns for p in out.rglob("result.json")}
    assert len(after) == len(VIDEOS) * 2
    assert all(after[d] == mtime for d, mtime in done_before.items())
    counts = check_complete(out)
    assert counts == {"results": len(VIDEOS) * 2, "masks": len(VIDEOS) * 2 * FRAMES, "temps": 0}, counts
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["counts"]["scored"] == len(VIDEOS) * 2 and not metrics["failed"]
    assert metrics["overall"]["J&F"] > 0.5


WRITER = r"""
import sys
from parse_vos_ros.atomic import atomic_write_bytes
target, n = sys.argv[1], 0
print("writing", flush=True)
while True:  # each version is 8 MB of one repeated byte: a torn file would mix two or be short
    atomic_write_bytes(target, bytes([65 + n % 26]) * 8_000_000)
    n += 1
"""


@pytest.mark.parametrize("kill_after_s", [0.05, 0.13, 0.31])
def test_writer_killed_mid_write_never_leaves_a_torn_file(tmp_path: Path, kill_after_s: float) -> None:
    target = tmp_path / "out" / "result.bin"
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "writing\n"
    time.sleep(kill_after_s)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    if target.exists():  # the newest complete version, never a partial one
        data = target.read_bytes()
        assert len(data) == 8_000_000 and data.count(data[:1]) == len(data)
    leftovers = [p for p in target.parent.iterdir() if p != target]
    assert all(is_temp(p) for p in leftovers), leftovers


def test_only_old_temporary_files_of_atomic_writes_are_removed(tmp_path: Path) -> None:
    from parse_vos_ros.atomic import atomic_path, remove_stale_temps

    old = time.time() - 3600
    keep = [tmp_path / ".hidden.png", tmp_path / "a.tmp.png", tmp_path / "x" / ".00001.png.abcdefgh.tmp.png"]
    stale = [tmp_path / ".00002.png.abcdefgh.tmp.png", tmp_path / "x" / "y" / ".result.json.a_b1c2d3.tmp.json"]
    for path in keep + stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        if path is not keep[2]:  # keep[2] is fresh: a writer may be busy with it
            os.utime(path, (old, old))
    with atomic_path(tmp_path / "live.json") as real:  # the pattern matches the names atomic_path makes
        real.write_text("{}")
        os.utime(real, (old, old))  # as if its writer had been killed an hour ago
        assert remove_stale_temps(tmp_path) == 3 and not real.exists()
        real.write_text("{}")
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)
    assert remove_stale_temps(tmp_path / "missing") == 0
