"""Reading frames from folders and video files; atomic mask and overlay outputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from parse_vos_ros.video_io import FrameSource, OverlayWriter, VideoInputError, overlay, write_mask_png


def _frames(n: int = 5, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8) for _ in range(n)]


def test_folder_frames_are_sorted_rgb_with_stamps(tmp_path: Path) -> None:
    frames = _frames()
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("ignored")
    src = FrameSource(tmp_path, fps=10)
    got = list(src)
    assert len(src) == 5 and [i for i, _, _ in got] == list(range(5))
    assert [s for _, _, s in got] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(got[3][1], frames[3])  # PNG is lossless, and channels are RGB


def test_video_round_trip_through_the_overlay_writer(tmp_path: Path) -> None:
    frames = _frames(8)
    with OverlayWriter(tmp_path / "v.mp4", fps=12.0) as w:
        for f in frames:
            w.write(f)
        w.write(cv2.resize(frames[0], (32, 24)))  # a different size is resized, not dropped
    assert w.path.exists() and w.path.suffix in (".mp4", ".avi")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    src = FrameSource(w.path)
    assert src.fps == pytest.approx(12.0)
    got = list(src)
    assert len(got) == 9 and got[0][1].shape == (48, 64, 3)


def test_failed_writing_leaves_no_partial_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), OverlayWriter(tmp_path / "v.mp4", fps=10.0) as w:
        w.write(_frames(1)[0])
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(VideoInputError, match="not found"):
        FrameSource(tmp_path / "missing.mp4")
    with pytest.raises(VideoInputError, match="no images"):
        FrameSource(tmp_path)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(VideoInputError):
        src = FrameSource(junk)
        list(src)
    bad = tmp_path / "imgs"
    bad.mkdir()
    (bad / "0.jpg").write_bytes(b"broken")
    with pytest.raises(VideoInputError, match="cannot read image"):
        list(FrameSource(bad))
    with pytest.raises(VideoInputError, match="fps"):
        FrameSource(bad, fps=0)


def test_mask_png_is_0_255_and_overlay_draws(tmp_path: Path) -> None:
    mask = np.zeros((48, 64), bool)
    mask[10:20, 5:30] = True
    write_mask_png(tmp_path / "m" / "00000.png", mask)
    back = cv2.imread(str(tmp_path / "m" / "00000.png"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint8 and set(np.unique(back)) == {0, 255}
    np.testing.assert_array_equal(back > 0, mask)
    img = np.zeros((48, 64, 3), np.uint8)
    ov = overlay(img, mask, np.array([5, 10, 30, 20.0]), "tracking")
    assert ov[15, 15, 0] > 50 and ov.shape == img.shape and not img.any()
