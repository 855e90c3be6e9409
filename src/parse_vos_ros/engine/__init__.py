"""The streaming PARSE-VOS engine: ``set_command()`` then ``push_frame()`` per camera frame.

Per frame (causal, results for frame t use frames <= t only), ``Engine.push_frame`` runs in order:
1. intake (``intake.py``): downscale to ``engine.working_width``; a new image size or a time jump
   restarts the tracks; a new command takes effect;
2. ego-motion: camera motion between frames (features outside the candidate masks); every stored
   trajectory is moved into the new frame's pixels (``candidates.py``);
3. the segmenter propagates every track's mask;
4. on keyframes (``schedule.py``: every ``engine.keyframe_interval`` frames, more often while
   nothing is selected, and on the first frame after a new command) the detector grounds the
   command's candidate phrases; detections are associated with tracks by predictive association
   and unmatched ones start tracks (``candidates.py``); with ``engine.async_keyframes`` every
   keyframe's detection and keyframe masks run in a worker thread (one at a time: a keyframe due
   while one runs is skipped, never queued) and are applied a few frames later, carried by the
   camera motion (``keyframes.py``, ``carry.py``); ``run_offline`` runs them inline;
5. duplicates are merged, lost tracks die after ``tracking.lost_after_s``; depth is measured;
6. the motion reasoner selects tracks from the trajectories in the sliding window (at once on a
   new command, then at most every ``engine.reason_interval_s``), the pose verifier breaks ties
   when more than ``pose.trigger_above`` candidates remain (``reasoning.py``, inline or in a
   background thread); the outcome becomes the selection (``selection.py``) and prunes tracks
   that clearly do not fit;
7. the union mask of the selected tracks is upscaled to the input resolution (``output.py``).

With an aligned depth image (``push_frame(..., depth=DepthFrame)``) each track's distance is
measured every frame (median depth under its mask): the reasoners get metric distance and radial
speed, occlusion order comes from depth, and every selected visible track gets a 3D point.

Without a command the engine still grounds ``engine.idle_phrase`` so that a new command is
answered at once from the motion history already in the window. ``run_offline`` (``offline.py``)
runs a whole video and then revises the selection with the whole trajectories.
"""

from parse_vos_ros.engine.core import Engine
from parse_vos_ros.engine.offline import run_offline
from parse_vos_ros.engine.selection import SWITCH_AFTER_S

__all__ = ["SWITCH_AFTER_S", "Engine", "run_offline"]
