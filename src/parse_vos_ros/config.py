"""Typed, validated configuration.

A profile is a YAML file (``config/<name>.yaml``) whose top-level keys are the sections below.
Every key has a default here, so a profile only states what differs; unknown keys and values
of the wrong type or out of range are errors that name the dotted key (``tracking.iou_gate``).
The same dotted keys are the ROS node's parameters.

Each section belongs to one stage; add a key to its section with a default, a comment stating
units, and a check in ``validate`` when it has a range.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A configuration key is unknown, has the wrong type or an invalid value."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config key '{key}': {message}")
        self.key = key


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(key, message)


@dataclass
class EngineConfig:
    """Streaming engine (method steps 2 and 6)."""

    keyframe_interval: int = 15  # tau: ground candidates every this many frames
    window_s: float = 10.0  # sliding window length in seconds (history kept per track)
    max_tracks: int = 24  # hard bound on live candidate tracks
    max_history_samples: int = 300  # hard bound on stored samples per track
    working_width: int = 320  # internal processing width in pixels (0 = full resolution)
    reason_interval_s: float = 1.0  # re-run reasoning at most this often while a command is active
    offline_revise: bool = True  # offline mode: re-select with full trajectories and rewrite frames
    idle_phrase: str = "object"  # grounded while no command is set, so a new command has history ("" = off)
    reanchor_iou: float = 0.0  # re-anchor a visible matched track on its detection when their boxes' IoU is below
    # this (lost tracks are always re-anchored); 0 trusts propagation: measured better with the embedded detector
    switch_margin: float = 0.1  # a new selection replaces the current one only if it scores this much higher
    max_crops_per_track: int = 4  # keyframe crops kept per track for pose verification
    min_detection_score: float = 0.1  # detections below this (or below 0.3 x the keyframe's best) start no track
    max_births_per_keyframe: int = 4  # new tracks per keyframe, best detections first (each costs propagation time)
    prune_ratio: float = 0.35  # drop unselected tracks older than 1 s scoring below this x the selection (0 = off)
    async_keyframes: bool = False  # every keyframe's detection and DeepLab masks in a worker thread, off the frame path
    keyframe_worker_nice: int = 0  # that thread runs this many OS nice steps below the frame loop (0-19; Linux)
    opencv_threads: int = 0  # OpenCV's thread pool, process-wide (0: OpenCV's default, one per core)

    def validate(self) -> None:
        _check(self.keyframe_interval >= 1, "keyframe_interval", "must be >= 1")
        _check(self.window_s > 0, "window_s", "must be > 0 seconds")
        _check(1 <= self.max_tracks <= 256, "max_tracks", "must be in [1, 256]")
        _check(self.max_history_samples >= 2, "max_history_samples", "must be >= 2")
        _check(self.working_width == 0 or self.working_width >= 64, "working_width", "0 or >= 64 px")
        _check(self.reason_interval_s >= 0, "reason_interval_s", "must be >= 0 seconds")
        _check(0.0 <= self.reanchor_iou <= 1.0, "reanchor_iou", "must be in [0, 1]")
        _check(0.0 <= self.switch_margin <= 1.0, "switch_margin", "must be in [0, 1]")
        _check(self.max_crops_per_track >= 1, "max_crops_per_track", "must be >= 1")
        _check(0.0 <= self.min_detection_score <= 1.0, "min_detection_score", "must be in [0, 1]")
        _check(self.max_births_per_keyframe >= 1, "max_births_per_keyframe", "must be >= 1")
        _check(0.0 <= self.prune_ratio < 1.0, "prune_ratio", "must be in [0, 1)")
        _check(0 <= self.keyframe_worker_nice <= 19, "keyframe_worker_nice", "must be in [0, 19]")
        _check(self.opencv_threads >= 0, "opencv_threads", "must be >= 0 (0: OpenCV's default)")


@dataclass
class GroundingConfig:
    """Open-vocabulary detection on keyframes."""

    backend: Literal["embedded", "learned", "groundingdino"] = "embedded"
    model_path: str = ""  # local directory of a transformers GroundingDINO checkpoint
    box_threshold: float = 0.35
    text_threshold: float = 0.25
    max_detections: int = 16
    max_prompt_chars: int = 256  # GroundingDINO prompt length cap
    # embedded detector (motion / HOG / colour / saliency cues)
    embedded_width: int = 256  # working width in pixels for the motion, colour and saliency cues (0 = full)
    embedded_hog_width: int = 480  # width in pixels the HOG people detector runs at (0 = full; slower when larger)
    embedded_motion_min_px: float = 0.5  # residual motion below this many working-width pixels per frame is static
    embedded_min_area_frac: float = 0.002  # regions smaller than this fraction of the image are ignored
    nms_iou: float = 0.7  # groundingdino: drop a box overlapping a better one of the same phrase above this IoU
    # learned detector (YOLOX-Nano COCO boxes + MobileNetV2 ImageNet crop recognition, vendored)
    yolox_model: str = ""  # YOLOX .onnx file ("" = the vendored yolox-nano/yolox_nano.onnx)
    yolox_score_threshold: float = 0.25  # keep boxes whose objectness x class score is at least this
    yolox_nms_iou: float = 0.45  # per-class NMS: drop a box overlapping a better one of its class above this IoU
    # a noun of no COCO class also looks at boxes whose objectness alone passes yolox_score_threshold
    yolox_objects: bool = True
    classifier_model: str = ""  # ImageNet-1k .tflite ("" = the vendored coral/mobilenet_v2_1.0_224_quant.tflite)
    classifier_crops: int = 4  # crops recognized per keyframe at most (new boxes first, then ambiguous ones)
    model_threads: int = 1  # threads per model runtime (onnxruntime intra-op, LiteRT); >= 1
    # COCO class names, comma-separated, the learned detector acts as if never trained on: to measure
    # objects outside its classes on data whose objects are in them ("" = none; docs/evaluation.md)
    withheld_classes: str = ""

    def validate(self) -> None:
        _check(0.0 <= self.box_threshold <= 1.0, "box_threshold", "must be in [0, 1]")
        _check(0.0 <= self.text_threshold <= 1.0, "text_threshold", "must be in [0, 1]")
        _check(self.max_detections >= 1, "max_detections", "must be >= 1")
        _check(self.max_prompt_chars >= 8, "max_prompt_chars", "must be >= 8")
        _check(self.embedded_width == 0 or self.embedded_width >= 32, "embedded_width", "0 or >= 32 px")
        _check(self.embedded_hog_width == 0 or self.embedded_hog_width >= 64, "embedded_hog_width", "0 or >= 64 px")
        _check(self.embedded_motion_min_px > 0, "embedded_motion_min_px", "must be > 0 pixels")
        _check(0.0 <= self.embedded_min_area_frac < 1.0, "embedded_min_area_frac", "must be in [0, 1)")
        _check(0.0 < self.nms_iou <= 1.0, "nms_iou", "must be in (0, 1] (1 = off)")
        _check(0.0 < self.yolox_score_threshold <= 1.0, "yolox_score_threshold", "must be in (0, 1]")
        _check(0.0 < self.yolox_nms_iou <= 1.0, "yolox_nms_iou", "must be in (0, 1] (1 = off)")
        _check(0 <= self.classifier_crops <= 64, "classifier_crops", "must be in [0, 64] (0 = no crop recognition)")
        _check(1 <= self.model_threads <= 64, "model_threads", "must be in [1, 64]")
        try:
            self.withheld_indices()
        except ValueError as exc:
            raise ConfigError("withheld_classes", str(exc)) from None
        _check(
            self.backend in ("embedded", "learned") or bool(self.model_path),
            "model_path",
            f"required for backend '{self.backend}' (run `parse-vos models download`)",
        )

    def withheld_indices(self) -> frozenset[int]:
        """The COCO class indices of ``withheld_classes`` (a comma-separated string, not a list, so
        that a ROS parameter holds it whether empty or not); ``ValueError`` names an unknown class."""
        from parse_vos_ros.grounding.yolox import coco_indices  # the class list lives with the model

        return coco_indices(tuple(name.strip() for name in self.withheld_classes.split(",") if name.strip()))


@dataclass
class TrackingConfig:
    """Mask propagation and track association."""

    backend: Literal["embedded", "sam2"] = "embedded"
    model_path: str = ""  # local directory of a transformers Sam2Video checkpoint
    iou_gate: float = 0.2  # minimum IoU between a predicted track box and a detection to match
    lost_after_s: float = 2.0  # a track unseen this long is removed
    min_mask_area_px: int = 16  # smaller masks count as not visible
    # sam2 video segmenter
    sam2_mask_threshold: float = 0.0  # mask logit above which a pixel is foreground
    sam2_min_object_score: float = 0.0  # object-presence logit below which the object is hidden (empty mask)
    sam2_max_cond_frames: int = 4  # box-prompted (keyframe) memories kept per object, newest first, within the window
    # embedded segmenter (flow propagation + refinement)
    embedded_width: int = 320  # internal processing width in pixels (0 = full resolution)
    embedded_flow: Literal["ultrafast", "fast", "medium"] = "medium"  # DIS optical flow preset
    embedded_grabcut_iterations: int = 3  # GrabCut iterations when an object starts from a box
    embedded_grabcut_side: int = 240  # GrabCut runs on the box crop downscaled to at most this many pixels a side
    embedded_colour_weight: float = 0.8  # weight of the colour log-odds against the shape prior
    embedded_motion_weight: float = 0.5  # weight of the motion-coherence log-odds
    embedded_motion_seed: bool = True  # seed GrabCut of a new object with pixels moving unlike its surroundings
    # keyframe target masks: on keyframes a segmentation model re-anchors the propagated masks
    keyframe_masks: Literal["none", "deeplab"] = "none"  # deeplab: DeepLabV3 on the box crops (embedded backend)
    keyframe_mask_model: Literal["dm05", "full"] = "dm05"  # vendored DeepLabV3: half-width (faster) or full-width
    keyframe_mask_max_crops: int = 2  # model calls per keyframe: selected targets first, then new tracks
    keyframe_mask_threads: int = 1  # CPU threads of the segmentation model
    keyframe_mask_min_iou: float = 0.5  # the model's mask replaces the propagated one only from this IoU with it on
    keyframe_mask_known_min_iou: float = 0.0  # the same when the mask is of a class the command names (PASCAL's 20)
    keyframe_mask_refresh_frames: int = 0  # between keyframes: re-segment the selected targets every N frames (0: off)
    keyframe_mask_join_riders: bool = False  # a selected rider's mask takes in the bicycle, motorbike, horse (and back)

    def validate(self) -> None:
        _check(0.0 <= self.iou_gate <= 1.0, "iou_gate", "must be in [0, 1]")
        _check(self.lost_after_s > 0, "lost_after_s", "must be > 0 seconds")
        _check(self.min_mask_area_px >= 0, "min_mask_area_px", "must be >= 0")
        _check(1 <= self.sam2_max_cond_frames <= 64, "sam2_max_cond_frames", "must be in [1, 64]")
        _check(self.embedded_width == 0 or self.embedded_width >= 32, "embedded_width", "0 or >= 32 px")
        _check(1 <= self.embedded_grabcut_iterations <= 20, "embedded_grabcut_iterations", "must be in [1, 20]")
        _check(self.embedded_grabcut_side >= 16, "embedded_grabcut_side", "must be >= 16 px")
        _check(self.embedded_colour_weight >= 0, "embedded_colour_weight", "must be >= 0")
        _check(self.embedded_motion_weight >= 0, "embedded_motion_weight", "must be >= 0")
        _check(
            self.keyframe_masks == "none" or self.backend == "embedded",
            "keyframe_masks",
            f"'{self.keyframe_masks}' re-anchors the embedded segmenter's masks; "
            f"backend '{self.backend}' keeps its own",
        )
        _check(0 <= self.keyframe_mask_max_crops <= 64, "keyframe_mask_max_crops", "must be in [0, 64]")
        _check(1 <= self.keyframe_mask_threads <= 64, "keyframe_mask_threads", "must be in [1, 64]")
        _check(0.0 <= self.keyframe_mask_min_iou <= 1.0, "keyframe_mask_min_iou", "must be in [0, 1]")
        _check(0.0 <= self.keyframe_mask_known_min_iou <= 1.0, "keyframe_mask_known_min_iou", "must be in [0, 1]")
        _check(self.keyframe_mask_refresh_frames >= 0, "keyframe_mask_refresh_frames", "must be >= 0 frames")
        _check(
            self.backend == "embedded" or bool(self.model_path),
            "model_path",
            f"required for backend '{self.backend}' (run `parse-vos models download`)",
        )


@dataclass
class ParserConfig:
    """Sentence -> ParsedCommand."""

    backend: Literal["rule", "llm"] = "rule"
    max_command_chars: int = 2000  # longer transcripts are rejected with a clear error

    def validate(self) -> None:
        _check(self.max_command_chars >= 16, "max_command_chars", "must be >= 16")


@dataclass
class ReasonerConfig:
    """Coarse motion reasoning over serialized trajectories."""

    backend: Literal["rule", "llm"] = "rule"
    max_tracks_serialized: int = 12  # cap on tracks given to the LLM
    max_samples_per_track: int = 8  # cap on samples per track in the serialization

    def validate(self) -> None:
        _check(self.max_tracks_serialized >= 1, "max_tracks_serialized", "must be >= 1")
        _check(self.max_samples_per_track >= 2, "max_samples_per_track", "must be >= 2")


@dataclass
class PoseConfig:
    """Fine pose verification (only when more than ``trigger_above`` candidates remain)."""

    backend: Literal["embedded", "clip"] = "embedded"
    model_path: str = ""  # local directory of a transformers CLIP checkpoint
    keyframes: int = 3  # k: crops per candidate
    trigger_above: int = 1  # K: verify only when more candidates than this remain
    clip_prompt: str = "a photo of {}"  # clip: text template, {} is replaced by the pose text

    def validate(self) -> None:
        _check(self.keyframes >= 1, "keyframes", "must be >= 1")
        _check(self.trigger_above >= 0, "trigger_above", "must be >= 0")
        _check("{}" in self.clip_prompt, "clip_prompt", "must contain {} (where the pose text goes)")
        _check(
            self.backend == "embedded" or bool(self.model_path),
            "model_path",
            f"required for backend '{self.backend}' (run `parse-vos models download`)",
        )


@dataclass
class LLMConfig:
    """LLM runtime shared by the LLM parser and reasoner."""

    runtime: Literal["llama_cpp", "openai"] = "llama_cpp"
    model_path: str = ""  # GGUF file for llama_cpp
    base_url: str = "http://127.0.0.1:8080/v1"  # OpenAI-compatible server for openai
    model: str = "default"  # model name sent to the server
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the key (may be unset)
    timeout_s: float = 20.0
    max_retries: int = 2
    max_tokens: int = 256
    temperature: float = 0.0
    n_ctx: int = 4096
    n_threads: int = 0  # 0 = llama.cpp's default
    chat_format: str = ""  # "" = the GGUF's own chat template; else a llama-cpp-python format, e.g. "llama-3"
    seed: int = 0  # sampling seed (llama_cpp)
    n_gpu_layers: int = 0  # llama_cpp: layers offloaded to the GPU (-1 = all; needs a GPU build of llama.cpp)
    response_format: Literal["json_schema", "json_object"] = "json_schema"  # how the schema is sent (openai)
    retry_backoff_s: float = 0.25  # first retry delay in seconds, doubled per retry (openai)
    max_response_bytes: int = 1_000_000  # larger HTTP responses are rejected (openai)
    failure_cooldown_s: float = 30.0  # after an LLM failure, use the rule path this many seconds

    def validate(self) -> None:
        _check(self.timeout_s > 0, "timeout_s", "must be > 0 seconds")
        _check(self.max_retries >= 0, "max_retries", "must be >= 0")
        _check(self.max_tokens >= 16, "max_tokens", "must be >= 16")
        _check(0.0 <= self.temperature <= 2.0, "temperature", "must be in [0, 2]")
        _check(self.n_ctx >= 256, "n_ctx", "must be >= 256")
        _check(self.n_threads >= 0, "n_threads", "must be >= 0")
        _check(self.retry_backoff_s >= 0, "retry_backoff_s", "must be >= 0 seconds")
        _check(self.max_response_bytes >= 1024, "max_response_bytes", "must be >= 1024")
        _check(self.failure_cooldown_s >= 0, "failure_cooldown_s", "must be >= 0 seconds")
        _check(self.n_gpu_layers >= -1, "n_gpu_layers", "must be >= -1 (-1 = all layers)")


@dataclass
class RosConfig:
    """ROS node behaviour (ignored by the core)."""

    image_reliability: Literal["auto", "reliable", "best_effort"] = "auto"
    max_image_pixels: int = 4096 * 4096  # larger frames are rejected
    frame_id_override: str = ""  # replace the image frame_id in outputs when set
    diagnostics_period_s: float = 1.0
    stall_warn_s: float = 5.0  # diagnostics warn when an active node got images before but none for this long (s)
    stream_restart_s: float = 1.0  # a stamp jump back above this (s) restarts tracking; below it the frame is dropped
    fault_log_period_s: float = 5.0  # at most one log line per fault kind per this many seconds
    fault_warn_s: float = 30.0  # diagnostics stay WARN this many seconds after the last input/engine fault
    depth_tolerance_s: float = 0.02  # a depth image / camera_info pairs with a colour frame stamped this close (s)

    def validate(self) -> None:
        _check(self.max_image_pixels >= 64 * 64, "max_image_pixels", "must be >= 4096")
        _check(self.diagnostics_period_s > 0, "diagnostics_period_s", "must be > 0 seconds")
        _check(self.stall_warn_s > 0, "stall_warn_s", "must be > 0 seconds")
        _check(self.stream_restart_s >= 0, "stream_restart_s", "must be >= 0 seconds")
        _check(self.fault_log_period_s >= 0, "fault_log_period_s", "must be >= 0 seconds")
        _check(self.fault_warn_s >= 0, "fault_warn_s", "must be >= 0 seconds")
        _check(0 <= self.depth_tolerance_s <= 1.0, "depth_tolerance_s", "must be in [0, 1] seconds")


@dataclass
class Config:
    """The whole configuration. ``fallback: weightfree`` (or its older name ``embedded``) starts on
    the weight-free backends when a configured model fails to load, and says so."""

    engine: EngineConfig = field(default_factory=EngineConfig)
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    parser: ParserConfig = field(default_factory=ParserConfig)
    reasoner: ReasonerConfig = field(default_factory=ReasonerConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    ros: RosConfig = field(default_factory=RosConfig)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    fallback: Literal["none", "weightfree", "embedded"] = "none"

    def validate(self) -> None:
        """Validate every section; errors carry the dotted key."""
        for f in dataclasses.fields(self):
            section = getattr(self, f.name)
            if dataclasses.is_dataclass(section):
                try:
                    section.validate()
                except ConfigError as exc:
                    raise ConfigError(f"{f.name}.{exc.key}", str(exc).split(": ", 1)[1]) from None

    def to_dict(self) -> dict[str, Any]:
        """Nested plain-dict form (what a profile YAML holds)."""
        return dataclasses.asdict(self)

    def flat_items(self) -> Iterator[tuple[str, Any]]:
        """``(dotted_key, value)`` for every leaf key, in declaration order."""
        yield from _flatten(self.to_dict())


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` against the type ``hint`` and convert lossless cases (int -> float)."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        _check(value in typing.get_args(hint), key, f"must be one of {list(typing.get_args(hint))}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(key, f"has the wrong type: {value!r}")
    if origin is tuple:
        _check(isinstance(value, list | tuple), key, f"must be a list, got {value!r}")
        (item_hint, _) = typing.get_args(hint)
        return tuple(_coerce(v, item_hint, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        _check(isinstance(value, bool), key, f"must be true or false, got {value!r}")
        return value
    if hint is int:
        _check(isinstance(value, int) and not isinstance(value, bool), key, f"must be an integer, got {value!r}")
        return value
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        _check(ok, key, f"must be a number, got {value!r}")
        return float(value)
    if hint is str:
        _check(isinstance(value, str), key, f"must be a string, got {value!r}")
        return value
    raise ConfigError(key, f"unsupported type {hint!r}")  # a programming error in this module


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    _check(isinstance(data, Mapping), prefix.rstrip(".") or "<root>", "must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        _check(key in names, f"{prefix}{key}", f"unknown key (known: {', '.join(sorted(names))})")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, hint, f"{prefix}{name}")
    return cls(**kwargs)


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """Build and validate a Config from a nested mapping (missing keys take defaults)."""
    config = _build(Config, data, "")
    config.validate()
    return config


def unflatten(items: Mapping[str, Any]) -> dict[str, Any]:
    """``{"engine.window_s": 5}`` -> ``{"engine": {"window_s": 5}}``."""
    tree: dict[str, Any] = {}
    for dotted, value in items.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            _check(isinstance(node, dict), dotted, "conflicts with a leaf key")
        node[leaf] = value
    return tree


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two nested mappings; ``override`` wins."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def profile_dirs() -> list[Path]:
    """Where named profiles are looked up, first match wins: ``$PARSE_VOS_CONFIG_DIR``, the
    repository's ``config/``, the ROS share directory, the copy packaged with the wheel."""
    dirs = []
    if os.environ.get("PARSE_VOS_CONFIG_DIR"):
        dirs.append(Path(os.environ["PARSE_VOS_CONFIG_DIR"]))
    dirs.append(Path(__file__).resolve().parents[2] / "config")
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        dirs.append(Path(prefix) / "share" / "parse_vos_ros" / "config")
    dirs.append(Path(__file__).resolve().parent / "profiles")
    return dirs


def resolve_profile(profile: str | os.PathLike[str]) -> Path:
    """A path to a YAML file, or a profile name such as ``default`` / ``paper``."""
    path = Path(profile)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError("<profile>", f"file not found: {path}")
        return path
    for directory in profile_dirs():
        candidate = directory / f"{profile}.yaml"
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(d) for d in profile_dirs())
    raise ConfigError("<profile>", f"no profile named '{profile}' (searched {searched})")


def load_config(
    profile: str | os.PathLike[str] | None = "default", overrides: Mapping[str, Any] | None = None
) -> Config:
    """Load a profile (name or path; None = built-in defaults) and apply dotted-key overrides."""
    data: dict[str, Any] = {}
    if profile is not None:
        path = resolve_profile(profile)
        with open(path, encoding="utf-8") as fh:
            loaded = yaml.safe_load(fh) or {}
        _check(isinstance(loaded, dict), "<profile>", f"{path} must hold a mapping")
        data = loaded
    if overrides:
        data = merge(data, unflatten(overrides))
    return config_from_dict(data)


def parse_override(text: str) -> tuple[str, Any]:
    """``"engine.window_s=5"`` -> ``("engine.window_s", 5)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(text, "an override must look like section.key=value")
    return key.strip(), yaml.safe_load(raw)
