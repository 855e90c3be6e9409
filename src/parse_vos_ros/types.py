"""Data types shared by every stage of the pipeline.

Conventions used throughout the package:
- images are ``(H, W, 3) uint8`` RGB arrays unless a name says ``bgr`` or ``gray``;
- masks are ``(H, W) bool`` arrays at the resolution of the frame they belong to;
- boxes are ``(4,) float`` arrays ``[x0, y0, x1, y1]`` in pixels of the original image
  (x to the right, y down, x1/y1 exclusive);
- stamps are seconds (float), monotonic within a stream.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Cardinality = int | Literal["all"]


MIN_IMAGE_SIDE = 16  # px: the engine refuses narrower or lower frames (too small to ground anything)


class TargetState(str, enum.Enum):
    """What the engine can say about the referred target on a frame."""

    IDLE = "idle"  # no command yet
    SEARCHING = "searching"  # command received, no candidate selected yet
    TRACKING = "tracking"  # target selected and visible
    AMBIGUOUS = "ambiguous"  # several candidates fit equally well
    LOST = "lost"  # the selected target is not visible on this frame
    NOT_FOUND = "not_found"  # nothing in view grounds the command's nouns (the trace says why)


@dataclass(frozen=True)
class ParsedCommand:
    """A referring sentence parsed into the five PARSE-VOS components.

    Attributes:
        text: the original transcript.
        candidates: entity noun phrases to ground, e.g. ``("dog",)``; never empty once validated.
        context: scene / relation phrases, e.g. ``("near the sofa", "on the left")``.
        motion: motion descriptors, e.g. ``("running", "to the left")``.
        pose: static appearance / posture phrases, e.g. ``("sitting", "with raised arm")``.
        cardinality: how many objects are referred to: an integer >= 1 or ``"all"``.
        source: which parser produced it ("rule", "llm", ...).
    """

    text: str
    candidates: tuple[str, ...]
    context: tuple[str, ...] = ()
    motion: tuple[str, ...] = ()
    pose: tuple[str, ...] = ()
    cardinality: Cardinality = 1
    source: str = "rule"

    def to_dict(self) -> dict[str, object]:
        """The JSON form (the schema's field names), without ``text`` and ``source``."""
        return {
            "candidates": list(self.candidates),
            "context": list(self.context),
            "motion": list(self.motion),
            "pose": list(self.pose),
            "cardinality": self.cardinality,
        }


@dataclass
class FrameContext:
    """One camera frame plus what the engine already knows about it, handed to every backend.

    Attributes:
        index: frame number in the stream, from 0.
        stamp: capture time in seconds.
        image: ``(H, W, 3) uint8`` RGB.
        gray: ``(H, W) uint8`` luminance of ``image``.
        prev_gray: ``(H, W) uint8`` luminance of the previous frame, or None on the first frame
            (and after a reset or a resolution change).
        ego_affine: ``(2, 3) float64`` affine transform mapping previous-frame pixel coordinates
            to this frame's (camera ego-motion); identity when unknown.
    """

    index: int
    stamp: float
    image: np.ndarray
    gray: np.ndarray
    prev_gray: np.ndarray | None = None
    ego_affine: np.ndarray = field(default_factory=lambda: np.eye(2, 3, dtype=np.float64))

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


CUE_PATH = "cue"  # ``Detection.source`` path of the weight-free cues, which name no class
RULES_OUT_PATH = "not"  # ``Detection.source`` path of a box that rules a track out


def named_class(source: str) -> str:
    """The class a detector named last in a ``Detection.source`` ("yolox:dog+imagenet:beagle" ->
    beagle), "" for a weight-free cue or no name."""
    path, _, name = source.rpartition("+")[2].partition(":")
    return name if path != CUE_PATH else ""


def from_cue(source: str) -> bool:
    """Whether a ``Detection.source`` is a weight-free cue's ("cue:motion"), not a model's."""
    return source.startswith(CUE_PATH + ":")


@dataclass
class Detection:
    """One grounded candidate on a keyframe.

    Attributes:
        box: ``(4,) float`` xyxy pixels in the original image.
        score: detector confidence in [0, 1].
        phrase: the candidate phrase (from ``ParsedCommand.candidates``) this box was found for.
        mask: optional ``(H, W) bool`` mask when the detector produces one.
        source: which path named it, "<path>:<class>": "yolox:person" (a COCO box of the phrase's
            class), "imagenet:Arabian camel" (a broad box recognized by the crop classifier),
            "yolox-any:horse" (any COCO box, the noun is unknown), "cue:motion" (weight-free cues),
            "not:person" (``rules_out``); "" when the detector does not say.
    """

    box: np.ndarray
    score: float
    phrase: str
    mask: np.ndarray | None = None
    source: str = ""

    @property
    def rules_out(self) -> bool:
        """A box the detector surely names as a thing the phrase cannot be (source "not:<class>",
        score 0): no candidate for it, and a track that is it, or a part of it, is none either."""
        return self.source.startswith(RULES_OUT_PATH + ":")


@dataclass
class Trajectory:
    """A candidate track's history inside the sliding window, as the reasoners see it.

    ``T`` is the number of stored samples (keyframes and/or subsampled frames), oldest first.

    Attributes:
        track_id: stable id of the track.
        phrase: the candidate phrase the track was born from.
        stamps: ``(T,) float`` seconds.
        boxes: ``(T, 4) float`` xyxy in image pixels on the frame of each sample.
        comp_boxes: ``(T, 4) float`` xyxy in ego-compensated coordinates (the pixel frame of
            the newest sample, so camera motion is removed from the displacement).
        areas: ``(T,) float`` visible mask area in pixels.
        visible: ``(T,) bool`` whether the object was visible (not lost/occluded) at the sample.
        score: mean detection confidence in [0, 1].
        distances: ``(T,) float`` metres from the camera to the object at each sample (median
            depth under its mask), NaN where unknown; None without a depth image.
        source: ``Detection.source`` of the detection that last matched the track.
        detected: ``(T, 4) float`` xyxy of the detection matched to the track since the sample
            before (keyframes), image pixels on the sample's frame, NaN rows where none; None
            when not kept.
    """

    track_id: int
    phrase: str
    stamps: np.ndarray
    boxes: np.ndarray
    comp_boxes: np.ndarray
    areas: np.ndarray
    visible: np.ndarray
    score: float = 1.0
    distances: np.ndarray | None = None
    source: str = ""
    detected: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.stamps.shape[0])


@dataclass(frozen=True)
class OcclusionFact:
    """``front_id`` overlaps ``back_id`` and is judged nearer the camera (measured depth when
    there is a depth image, else the larger visible area)."""

    front_id: int
    back_id: int
    overlap: float  # intersection over the smaller box area, in [0, 1]
    from_depth: bool = False  # judged by measured depth


@dataclass
class SceneSummary:
    """Everything the motion reasoner is given, all within the sliding window.

    Attributes:
        trajectories: candidate tracks, one per id.
        camera_motion: ``(T, 2, 3) float`` per-sample cumulative ego affine (may be empty).
        camera_description: one-line summary of camera motion ("panning left 40 px/s", ...).
        occlusions: occlusion order facts between overlapping tracks on the newest frame.
        image_size: ``(width, height)`` pixels.
        window_s: the window length in seconds the trajectories cover.
        whole_video: the trajectories cover a whole recorded video (offline), not a live window.
    """

    trajectories: Sequence[Trajectory]
    camera_description: str
    occlusions: Sequence[OcclusionFact]
    image_size: tuple[int, int]
    window_s: float
    camera_motion: np.ndarray = field(default_factory=lambda: np.zeros((0, 2, 3)))
    whole_video: bool = False


@dataclass
class ReasoningResult:
    """A reasoner's (or pose verifier's) answer.

    Attributes:
        track_ids: selected track ids, best first.
        rationale: human-readable explanation.
        source: "rule", "llm", "llm-fallback:<reason>", "clip", ...
        scores: per-track score in [0, 1] for every considered track.
        ambiguous: the selection could not be separated from other candidates.
    """

    track_ids: tuple[int, ...]
    rationale: str
    source: str
    scores: dict[int, float] = field(default_factory=dict)
    ambiguous: bool = False


@dataclass(frozen=True)
class TargetPoint:
    """A target's robust 3D position in the camera optical frame.

    Attributes:
        track_id: the track it belongs to.
        position: ``(3,) float`` x, y, z metres: per-axis median of the back-projected mask
            pixels with valid depth.
        extent: ``(3,) float`` metres: the 5th-95th percentile span of those points per axis.
        valid_fraction: share of the mask's pixels that had valid depth, in [0, 1].
        frame_id: optical frame of ``position``.
    """

    track_id: int
    position: np.ndarray
    extent: np.ndarray
    valid_fraction: float
    frame_id: str = ""


@dataclass(frozen=True)
class StreamRestart:
    """Why a frame started a new stream (the engine forgot tracks, masks and motion history first).

    Attributes:
        kind: ``"size_change"`` (the image geometry changed) or ``"time_jump"`` (the stamp is
            before the previous frame's: a bag replayed in a loop, a camera restarted).
        message: one line for a log, naming the old and new size or how far time went back.
    """

    kind: Literal["size_change", "time_jump"]
    message: str


@dataclass
class FrameResult:
    """The engine's output for one frame.

    Attributes:
        index: frame number.
        stamp: seconds, copied from the input.
        state: see ``TargetState``.
        mask: ``(H, W) bool`` union mask of the selected tracks (all False when none).
        box: ``(4,) float`` xyxy union box, or None when nothing is selected/visible.
        track_ids: selected track ids.
        score: selection confidence in [0, 1].
        command_id: id of the command this frame answers ("" when none).
        trace: JSON-serialisable reasoning trace (parse, candidates, rationale, timings).
        timings_ms: per-stage wall time in milliseconds for this frame.
        points: 3D points of the selected visible tracks (only with a depth image and intrinsics).
        restart: set when this frame started a new stream (the engine reset itself first); None
            when it continued the previous one.
    """

    index: int
    stamp: float
    state: TargetState
    mask: np.ndarray
    box: np.ndarray | None
    track_ids: tuple[int, ...] = ()
    score: float = 0.0
    command_id: str = ""
    trace: dict[str, object] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    points: tuple[TargetPoint, ...] = ()
    restart: StreamRestart | None = None
