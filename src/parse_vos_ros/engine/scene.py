"""What the reasoner sees: measured distances per track and the scene summary of the window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from parse_vos_ros.context.depth import DepthFrame, median_depth
from parse_vos_ros.context.distances import DistanceHistory
from parse_vos_ros.context.ego_motion import describe_camera
from parse_vos_ros.context.occlusion import occlusion_facts
from parse_vos_ros.tracking.store import TrackStore
from parse_vos_ros.types import SceneSummary, Trajectory


def with_distances(trajectories: list[Trajectory], history: DistanceHistory) -> list[Trajectory]:
    """The trajectories with their measured distances attached (unchanged when nothing was measured)."""
    if not history:
        return trajectories
    return [replace(t, distances=history.at(t.track_id, t.stamps)) for t in trajectories]


class DepthMeasures:
    """Each visible track's median depth under its mask, per frame, over the window.

    Attributes:
        window: distances over the streaming window.
        whole_video: distances over the whole video while ``run_offline`` records (else None).
        frame: this frame's measured distance per track (metres); empty without depth.
    """

    def __init__(self, window_s: float, max_samples: int) -> None:
        self.window = DistanceHistory(window_s, max_samples)
        self.whole_video: DistanceHistory | None = None
        self.frame: dict[int, float] = {}

    def clear(self) -> None:
        """Forget every measurement (a new stream)."""
        self.window.clear()
        self.frame = {}

    def measure(self, stamp: float, depth: DepthFrame | None, masks: Mapping[int, np.ndarray],
                store: TrackStore) -> None:
        """Record the median depth under each ``(h, w) bool`` mask of ``depth`` (same size)."""
        if depth is None:
            self.frame = {}
            return
        measured = {tid: median_depth(depth.depth_m, mask) for tid, mask in masks.items()}
        self.frame = measured
        self.window.record(stamp, measured, store.info)
        if self.whole_video is not None:
            self.whole_video.record(stamp, measured)


def scene_summary(store: TrackStore, depths: DepthMeasures, stamp: float, size: tuple[int, int],
                  window_s: float) -> SceneSummary:
    """The candidates' trajectories in the window ending at ``stamp``, with the occlusions of this
    frame and the camera's motion; ``size`` is the working ``(w, h)``."""
    ids = [tid for tid, info in store.info.items() if info.candidate]
    trajectories = with_distances(store.trajectories(stamp, ids), depths.window)
    visible = [tid for tid in ids if store.info[tid].area > 0]
    # Depth of this frame only: a distance from before an occlusion began would mislead.
    distances = np.array([depths.frame.get(t, np.nan) for t in visible])
    facts = occlusion_facts(
        visible,
        np.array([store.info[t].box for t in visible]).reshape(-1, 4),
        np.array([store.info[t].area for t in visible]),
        distances=distances,
    )
    cams = store.camera_affines(stamp)
    span = max((float(t.stamps[-1] - t.stamps[0]) for t in trajectories if len(t)), default=0.0)
    return SceneSummary(trajectories, describe_camera(cams, span, size[0]), facts, size, window_s, cams)


def newest_crops(store: TrackStore, scene: SceneSummary, count: int) -> dict[int, list[np.ndarray]]:
    """The newest ``count`` keyframe crops of every track in ``scene``."""
    return {t.track_id: [c for _, c in store.info[t.track_id].crops][-count:] for t in scene.trajectories}
