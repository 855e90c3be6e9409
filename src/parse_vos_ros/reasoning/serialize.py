"""Compact, bounded text form of a scene for the LLM motion reasoner (method step 4).

One header line (frame size, window, camera motion), one line per occlusion fact and one line per
track. A track line holds at most ``max_samples`` samples ``time:x,y`` of its ego-compensated box
centre (percent of the frame; time in seconds before the newest sample) and a summary the LLM can
use without arithmetic: velocity in percent of the frame per second, a direction word, the newest
box size and its trend (growing = approaching; ``sizes``: the height of the track's detection boxes
or of its mask box, where the image border does not cut it) and how often it was visible; with a
depth image also the measured distance in metres and the radial speed in m/s (negative =
approaching), which decide "toward / away from the camera" and "nearest" on measurements. At most
``max_tracks`` tracks are written (the best observed first), so the text is bounded whatever the
window length or the number of tracks; with the defaults (12 tracks x 8 samples) it stays under
~1,200 Llama 3 tokens (measured by benchmarks/bench_language.py).
"""

from __future__ import annotations

import numpy as np

from parse_vos_ros.reasoning.sizes import log_size, sized_samples
from parse_vos_ros.types import SceneSummary, Trajectory

STILL_PCT_PER_S = 2.0  # slower than this (percent of the frame per second) is called still
SIZE_TREND = 0.2  # relative area change that counts as growing / shrinking
RADIAL_STILL_M_S = 0.05  # slower radial motion (m/s) is called steady


def _centres(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(T, 4)`` xyxy pixels -> ``(T, 4)`` [cx, cy, w, h] in percent of the frame."""
    w, h = max(size[0], 1), max(size[1], 1)
    scale = np.array([100.0 / w, 100.0 / h, 100.0 / w, 100.0 / h])
    cxcywh = np.stack(
        [
            (boxes[:, 0] + boxes[:, 2]) / 2,
            (boxes[:, 1] + boxes[:, 3]) / 2,
            boxes[:, 2] - boxes[:, 0],
            boxes[:, 3] - boxes[:, 1],
        ],
        axis=1,
    )
    return cxcywh * scale


def direction_word(vx: float, vy: float) -> str:
    """Image-frame direction of a velocity in percent per second ("left", "right-down", "still")."""
    if np.hypot(vx, vy) < STILL_PCT_PER_S:
        return "still"
    parts = []
    if abs(vx) >= STILL_PCT_PER_S and abs(vx) >= 0.4 * abs(vy):
        parts.append("right" if vx > 0 else "left")
    if abs(vy) >= STILL_PCT_PER_S and abs(vy) >= 0.4 * abs(vx):
        parts.append("down" if vy > 0 else "up")
    return "-".join(parts)


def _slope(t: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of ``y`` over ``t`` ``(N,)`` (the times must not all be equal)."""
    tc = t - t.mean()
    return float(np.dot(tc, y - y.mean()) / np.dot(tc, tc))


def _pick(n: int, k: int) -> np.ndarray:
    """``min(n, k)`` indices spread evenly over ``range(n)``, first and last included."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))


def _track_line(traj: Trajectory, size: tuple[int, int], newest: float, max_samples: int) -> str:
    visible = np.asarray(traj.visible, dtype=bool)
    n_vis = int(visible.sum())
    phrase = " ".join(traj.phrase.replace('"', "'").split())[:40]  # user-derived text: one line, no quotes
    head = f'T{traj.track_id} "{phrase}" seen {n_vis}/{len(traj)} conf {traj.score:.2f}'
    if n_vis == 0:
        return head + " | never visible"
    stamps = np.asarray(traj.stamps, dtype=float)[visible]
    boxes = _centres(np.asarray(traj.comp_boxes, dtype=float)[visible], size)
    picked = _pick(n_vis, max_samples)
    samples = " ".join(f"{stamps[i] - newest:.1f}:{boxes[i, 0]:.0f},{boxes[i, 1]:.0f}" for i in picked)
    size_now = f"{boxes[-1, 2]:.0f}x{boxes[-1, 3]:.0f}"
    if n_vis >= 2 and stamps[-1] - stamps[0] > 1e-6:
        vx, vy = _slope(stamps, boxes[:, 0]), _slope(stamps, boxes[:, 1])
        trend = _trend(traj, visible, size)
        summary = f"v {vx:+.0f},{vy:+.0f}%/s {direction_word(vx, vy)}; size {size_now} {trend}"
    else:
        summary = f"v unknown (one sample); size {size_now}"
    return f"{head} | {samples} | {summary}{_depth_summary(traj)}"


def _trend(traj: Trajectory, visible: np.ndarray, size: tuple[int, int]) -> str:
    """``growing`` / ``shrinking`` / ``steady`` from the first to the newest comparable size
    (``sizes.sized_samples``: its detections' boxes, else the mask boxes of the ``visible``
    samples; ``sizes.log_size``: a side the image border does not cut), ``cut by the border``
    when no size holds across them."""
    stamps, logs = log_size(*sized_samples(traj, visible), float(size[0]), float(size[1]))
    if len(stamps) < 2:
        return "cut by the border"
    change = float(np.exp(2.0 * (logs[-1] - logs[0]))) - 1.0  # as an area
    return "growing" if change > SIZE_TREND else "shrinking" if change < -SIZE_TREND else "steady"


def _depth_summary(traj: Trajectory) -> str:
    """``; dist 3.2m radial -0.8m/s (toward)`` from the measured distances, "" without depth."""
    if traj.distances is None:
        return ""
    ok = np.isfinite(traj.distances)
    if not ok.any():
        return "; dist unknown"
    t, d = np.asarray(traj.stamps, dtype=float)[ok], np.asarray(traj.distances, dtype=float)[ok]
    text = f"; dist {d[-1]:.2f}m"
    if len(t) >= 2 and t[-1] - t[0] > 1e-6:
        radial = _slope(t, d)
        word = "steady" if abs(radial) < RADIAL_STILL_M_S else "toward" if radial < 0 else "away"
        text += f" radial {radial:+.2f}m/s ({word})"
    return text


def _rank(traj: Trajectory) -> float:
    return float(np.asarray(traj.visible, dtype=bool).sum()) * (0.5 + traj.score)


def serialize_scene(scene: SceneSummary, *, max_tracks: int = 12, max_samples: int = 8) -> tuple[str, list[int]]:
    """The scene as text for the LLM, and the ids of the tracks it mentions.

    Args:
        scene: trajectories (boxes in pixels, ``comp_boxes`` ego-compensated), camera and
            occlusion facts, all within the sliding window.
        max_tracks: tracks written, best observed first (more visible samples, higher confidence).
        max_samples: samples per track, spread evenly over its visible history.

    Returns:
        ``(text, track_ids)``: ``track_ids`` are the ids written, i.e. the only valid answers.
    """
    trajectories = sorted(scene.trajectories, key=_rank, reverse=True)
    kept = sorted(trajectories[:max_tracks], key=lambda t: t.track_id)
    newest = max((float(np.max(t.stamps)) for t in kept if len(t)), default=0.0)
    w, h = scene.image_size
    lines = [
        f"frame {w}x{h}px; window {scene.window_s:.0f}s; samples are seconds:centre x,y in % of the frame, "
        f"camera motion removed; camera: {scene.camera_description or 'unknown'}"
    ]
    if any(t.distances is not None for t in kept):
        lines.append("depth measured: dist = metres from the camera now, radial = m/s (negative = toward the camera)")
    ids = [t.track_id for t in kept]
    facts = [o for o in scene.occlusions if o.front_id in ids and o.back_id in ids][:max_tracks]
    lines += [f"T{o.front_id} in front of T{o.back_id} (overlap {100 * o.overlap:.0f}%"
              f"{', by depth' if o.from_depth else ''})" for o in facts]
    lines += [_track_line(t, scene.image_size, newest, max_samples) for t in kept]
    if len(trajectories) > len(kept):
        lines.append(f"({len(trajectories) - len(kept)} less visible tracks omitted)")
    return "\n".join(lines), ids
