"""Backend selection by name: the config says ``backend: <name>``, this maps the name to a class.

Classes are imported only when chosen, so the embedded profile never imports torch or
llama.cpp. Every backend class has ``from_config(config: Config) -> instance``; a backend that
cannot load its model raises ``BackendLoadError`` naming the file/key and the fix.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from parse_vos_ros.config import Config

LOG = logging.getLogger(__name__)

DETECTORS = {
    "embedded": "parse_vos_ros.grounding.embedded:EmbeddedDetector",
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
# The weight-free backend each kind falls back to when ``fallback: embedded``.
EMBEDDED = {"detector": "embedded", "segmenter": "embedded", "pose": "embedded"}


class BackendLoadError(RuntimeError):
    """A backend could not be created; the message names the file or key and the fix."""


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
        if config.fallback != "embedded" or fallback is None or fallback == name:
            raise
        LOG.warning("%s backend '%s' failed to load (%s); falling back to '%s'", kind, name, exc, fallback)
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
