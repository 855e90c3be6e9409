"""Backend selection by name: the config says ``backend: <name>``, this maps the name to a class.

Classes are imported only when chosen, so the embedded profile never imports torch or
llama.cpp. Every backend class has ``from_config(config: Config) -> instance``; a backend that
cannot load its model raises ``BackendLoadError`` naming the file/key and the fix.
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

from parse_vos_ros.config import Config

LOG = logging.getLogger(__name__)

DETECTORS = {
    "embedded": "parse_vos_ros.grounding.embedded:EmbeddedDetector",
    "learned": "parse_vos_ros.grounding.learned:LearnedDetector",
    "groundingdino": "parse_vos_ros.grounding.groundingdino:GroundingDinoDetector",
}
SEGMENTERS = {
    "embedded": "parse_vos_ros.tracking.embedded:EmbeddedSegmenter",
    "sam2": "parse_vos_ros.tracking.sam2:Sam2Segmenter",
}
PARSERS = {
    "rule": "parse_vos_ros.parsing.rule:RuleParser",
    "llm": "parse_vos_ros.parsing.llm_parser:LLMParser",
}
REASONERS = {
    "rule": "parse_vos_ros.reasoning.rule_reasoner:RuleMotionReasoner",
    "llm": "parse_vos_ros.reasoning.llm_reasoner:LLMMotionReasoner",
}
POSE_VERIFIERS = {
    "embedded": "parse_vos_ros.reasoning.embedded_pose:EmbeddedPoseVerifier",
    "clip": "parse_vos_ros.reasoning.clip_pose:ClipPoseVerifier",
}
# The weight-free backend each kind falls back to when ``fallback: weightfree`` (or ``embedded``).
EMBEDDED = {"detector": "embedded", "segmenter": "embedded", "pose": "embedded"}
FALLBACK_VALUES = ("weightfree", "embedded")  # config values of ``fallback`` that allow it
_MAX_FALLBACKS = 64  # fallbacks remembered per process (one per backend build; a bound, not a limit in use)


class BackendLoadError(RuntimeError):
    """A backend could not be created; the message names the file or key and the fix."""


@dataclass(frozen=True)
class Fallback:
    """A backend that failed to load and the weight-free one that runs instead.

    Attributes:
        kind: "detector", "segmenter" or "pose".
        configured: the backend name the config asked for.
        used: the backend that runs instead.
        reason: the ``BackendLoadError`` message (names the file and the fix).
    """

    kind: str
    configured: str
    used: str
    reason: str

    def describe(self) -> str:
        """One line for logs and diagnostics."""
        return f"{self.kind} backend '{self.configured}' failed to load ({self.reason}); falling back to '{self.used}'"


_FALLBACKS: list[Fallback] = []
_FALLBACKS_LOCK = threading.Lock()


def fallbacks() -> tuple[Fallback, ...]:
    """Every fallback taken in this process so far, oldest first (what the node's diagnostics report)."""
    with _FALLBACKS_LOCK:
        return tuple(_FALLBACKS)


def record_fallback(event: Fallback) -> None:
    """Log ``event`` and keep it for :func:`fallbacks` (the newest ``_MAX_FALLBACKS``)."""
    LOG.warning("%s", event.describe())
    with _FALLBACKS_LOCK:
        _FALLBACKS.append(event)
        del _FALLBACKS[:-_MAX_FALLBACKS]


def clear_fallbacks() -> None:
    """Forget recorded fallbacks (a node rebuilding its backends, tests)."""
    with _FALLBACKS_LOCK:
        _FALLBACKS.clear()


def _load_class(target: str) -> type:
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def _build(kind: str, table: dict[str, str], name: str, config: Config) -> Any:
    if name not in table:
        raise BackendLoadError(f"unknown {kind} backend '{name}' (known: {', '.join(table)})")
    try:
        return _load_class(table[name]).from_config(config)
    except BackendLoadError as exc:
        fallback = EMBEDDED.get(kind)
        if config.fallback not in FALLBACK_VALUES or fallback is None or fallback == name:
            raise
        record_fallback(Fallback(kind, name, fallback, str(exc)))
        return _load_class(table[fallback]).from_config(config)


def build_detector(config: Config) -> Any:
    """The grounding backend named by ``grounding.backend``."""
    return _build("detector", DETECTORS, config.grounding.backend, config)


def build_segmenter(config: Config) -> Any:
    """The mask propagation backend named by ``tracking.backend``."""
    return _build("segmenter", SEGMENTERS, config.tracking.backend, config)


def build_parser(config: Config) -> Any:
    """The command parser named by ``parser.backend``."""
    return _build("parser", PARSERS, config.parser.backend, config)


def build_reasoner(config: Config) -> Any:
    """The motion reasoner named by ``reasoner.backend``."""
    return _build("reasoner", REASONERS, config.reasoner.backend, config)


def build_pose_verifier(config: Config) -> Any:
    """The pose verifier named by ``pose.backend``."""
    return _build("pose", POSE_VERIFIERS, config.pose.backend, config)
