"""LLM motion reasoning over serialized trajectories (method step 4), with the rule reasoner as
its safety net.

The scene is serialized compactly (``serialize.serialize_scene``), the LLM answers
``{"track_ids": [...], "rationale": "..."}`` under a schema whose ids are an enum of the tracks
written, and the answer is validated again: ids must exist, repeat-free, at most the asked
cardinality; the rationale is cleaned and bounded. Any failure hands the decision to
``RuleMotionReasoner`` with ``source = "llm-fallback:<kind>"``.
"""

from __future__ import annotations

import json
import logging
import threading
import unicodedata
from typing import Any

from parse_vos_ros.backends import FALLBACK_VALUES, BackendLoadError
from parse_vos_ros.config import Config
from parse_vos_ros.llm.base import LLMError, LLMRuntime
from parse_vos_ros.llm.grammar import LLMOutputError, extract_json_object
from parse_vos_ros.llm.prompts import reason_messages
from parse_vos_ros.llm.runtime import FailureGate, build_runtime, failure_kind
from parse_vos_ros.reasoning.base import MotionReasoner
from parse_vos_ros.reasoning.serialize import serialize_scene
from parse_vos_ros.types import ParsedCommand, ReasoningResult, SceneSummary

LOG = logging.getLogger(__name__)
MAX_RATIONALE_CHARS = 200


def answer_schema(track_ids: list[int]) -> dict[str, Any]:
    """The JSON schema of an answer that may only name ``track_ids``."""
    return {
        "type": "object",
        "properties": {
            "track_ids": {"type": "array", "items": {"type": "integer", "enum": track_ids}, "maxItems": len(track_ids)},
            "rationale": {"type": "string", "maxLength": MAX_RATIONALE_CHARS},
        },
        "required": ["track_ids", "rationale"],
        "additionalProperties": False,
    }


def validate_answer(raw: str, valid_ids: list[int], cardinality: int | str) -> tuple[tuple[int, ...], str]:
    """``(selected ids, rationale)`` from a raw completion.

    Raises:
        LLMOutputError: not a JSON object, missing/extra keys, a non-integer or unknown id.
    """
    try:
        obj = json.loads(extract_json_object(raw))
    except json.JSONDecodeError as exc:
        raise LLMOutputError(f"answer is not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict) or set(obj) != {"track_ids", "rationale"}:
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise LLMOutputError(f"answer must have exactly track_ids and rationale, got {keys}")
    ids = obj["track_ids"]
    if not isinstance(ids, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise LLMOutputError(f"track_ids must be a list of integers, got {ids!r:.80}")
    unknown = [i for i in ids if i not in valid_ids]
    if unknown:
        raise LLMOutputError(f"track_ids names tracks that do not exist: {unknown[:5]}")
    selected = tuple(dict.fromkeys(ids))
    if isinstance(cardinality, int):
        selected = selected[:cardinality]
    rationale = obj["rationale"] if isinstance(obj["rationale"], str) else ""
    rationale = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in rationale)
    return selected, " ".join(rationale.split())[:MAX_RATIONALE_CHARS]


def _hint(cardinality: int | str) -> str:
    if cardinality == "all":
        return "every matching track"
    return "exactly 1 track" if cardinality == 1 else f"up to {cardinality} tracks"


class LLMMotionReasoner:
    """``MotionReasoner`` asking an LLM; ``RuleMotionReasoner`` answers when it fails.

    Args:
        runtime: the LLM, or None when it failed to load.
        fallback: the rule reasoner, or None (then a failure selects nothing).
        max_tracks / max_samples: serialization caps (``reasoner.max_tracks_serialized`` /
            ``reasoner.max_samples_per_track``).
        max_tokens, timeout_s, failure_cooldown_s: see ``LLMConfig``.
    """

    def __init__(
        self,
        runtime: LLMRuntime | None,
        *,
        fallback: MotionReasoner | None = None,
        max_tracks: int = 12,
        max_samples: int = 8,
        max_tokens: int = 256,
        timeout_s: float = 20.0,
        failure_cooldown_s: float = 30.0,
    ) -> None:
        self.runtime = runtime
        self.fallback = fallback
        self.max_tracks = max_tracks
        self.max_samples = max_samples
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.gate = FailureGate(failure_cooldown_s)
        self.cancel_event = threading.Event()

    @classmethod
    def from_config(cls, config: Config) -> LLMMotionReasoner:
        """With ``fallback: embedded`` a model that fails to load leaves the rule reasoner running."""
        runtime: LLMRuntime | None = None
        try:
            runtime = build_runtime(config)
        except (BackendLoadError, LLMError) as exc:
            if config.fallback not in FALLBACK_VALUES:
                raise BackendLoadError(str(exc)) from None
            LOG.warning("LLM reasoner unavailable (%s); using the rule reasoner", exc)
        return cls(
            runtime,
            fallback=_rule_reasoner(config),
            max_tracks=config.reasoner.max_tracks_serialized,
            max_samples=config.reasoner.max_samples_per_track,
            max_tokens=config.llm.max_tokens,
            timeout_s=config.llm.timeout_s,
            failure_cooldown_s=config.llm.failure_cooldown_s,
        )

    def select(self, command: ParsedCommand, scene: SceneSummary) -> ReasoningResult:
        """Ids of the tracks matching ``command``; only ids present in ``scene.trajectories``."""
        if not scene.trajectories:
            return ReasoningResult((), "no candidate tracks in the window", "llm")
        if self.runtime is None:
            return self._fallback(command, scene, "unavailable", "the LLM is not loaded")
        if self.gate.blocked():
            return self._fallback(command, scene, "cooldown", self.gate.last_error)
        text, ids = serialize_scene(scene, max_tracks=self.max_tracks, max_samples=self.max_samples)
        self.cancel_event.clear()
        try:
            raw = self.runtime.complete_json(
                reason_messages(command, text, _hint(command.cardinality)),
                answer_schema(ids),
                max_tokens=self.max_tokens,
                timeout_s=self.timeout_s,
                cancel=self.cancel_event,
            )
            selected, rationale = validate_answer(raw, ids, command.cardinality)
        except LLMError as exc:
            kind = failure_kind(exc)
            if kind != "cancelled":  # a cancel (new command) says nothing about the LLM's health
                self.gate.fail(f"{kind}: {exc}")
            LOG.warning("LLM reasoning failed (%s: %s); using the rule reasoner", kind, exc)
            return self._fallback(command, scene, kind, str(exc))
        self.gate.ok()
        scores = {i: (1.0 if i in selected else 0.0) for i in ids}
        return ReasoningResult(selected, rationale or "selected by the LLM", "llm", scores)

    def cancel(self) -> None:
        """Stop an in-flight LLM call (the rule reasoner then answers)."""
        self.cancel_event.set()

    def _fallback(self, command: ParsedCommand, scene: SceneSummary, kind: str, why: str) -> ReasoningResult:
        source = f"llm-fallback:{kind}"
        if self.fallback is None:
            return ReasoningResult((), f"LLM failed ({why}); no fallback reasoner", source)
        result = self.fallback.select(command, scene)
        return ReasoningResult(
            result.track_ids,
            f"LLM failed ({why[:120]}); rule: {result.rationale}",
            source,
            dict(result.scores),
            result.ambiguous,
        )


def _rule_reasoner(config: Config) -> MotionReasoner | None:
    """The engine's rule reasoner, imported lazily (None if that module is missing)."""
    try:
        from parse_vos_ros.reasoning.rule_reasoner import RuleMotionReasoner
    except ImportError:
        LOG.warning("rule reasoner unavailable: LLM failures will select nothing")
        return None
    return RuleMotionReasoner.from_config(config)
