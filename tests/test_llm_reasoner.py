"""LLM motion reasoner logic with a scripted runtime on hand-built scenes: the prompt carries the
serialized scene, answers are validated against the ids that exist, failures go to the rule
reasoner, which picks the right look-alike."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from llm_support import ScriptedRuntime, look_alike_scene

from parse_vos_ros.llm.base import Deadline, LLMError, Messages, Schema
from parse_vos_ros.llm.grammar import LLMOutputError
from parse_vos_ros.reasoning.llm_reasoner import LLMMotionReasoner, validate_answer
from parse_vos_ros.reasoning.rule_reasoner import RuleMotionReasoner
from parse_vos_ros.types import ParsedCommand, SceneSummary

LEFT = ParsedCommand("the dog running to the left", ("dog",), motion=("running", "to the left"))
STILL = ParsedCommand("the dog standing still", ("dog",), motion=("still",), pose=("standing",))
ALL_MOVING = ParsedCommand("the dogs that move", ("dog",), motion=("moving",), cardinality="all")


def test_answer_is_used_and_the_prompt_carries_the_scene() -> None:
    runtime = ScriptedRuntime([json.dumps({"track_ids": [1], "rationale": "T1 moves left at 8%/s"})])
    result = LLMMotionReasoner(runtime).select(LEFT, look_alike_scene())
    assert result.track_ids == (1,) and result.source == "llm"
    assert result.rationale == "T1 moves left at 8%/s"
    assert result.scores == {1: 1.0, 2: 0.0, 3: 0.0}
    user = runtime.calls[0]["messages"][-1]["content"]
    assert "camera: panning left 30 px/s" in user and 'T3 "dog"' in user and "Select: exactly 1 track" in user
    assert runtime.calls[0]["schema"]["properties"]["track_ids"]["items"]["enum"] == [1, 2, 3]


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ('{"track_ids": [9], "rationale": "x"}', "invalid"),
        ('{"track_ids": ["1"], "rationale": "x"}', "invalid"),
        ('{"track_ids": [true], "rationale": "x"}', "invalid"),
        ('{"track_ids": [1], "rationale": "x", "note": "extra"}', "invalid"),
        ("[1, 2]", "invalid"),
        ('{"track_ids": [1', "truncated"),
        (LLMError("timed out after 20.0s"), "timeout"),
        (LLMError("HTTP 500"), "error"),
    ],
)
def test_failures_fall_back_to_the_rule_reasoner(answer: object, kind: str) -> None:
    reasoner = LLMMotionReasoner(ScriptedRuntime([answer]), fallback=RuleMotionReasoner(), failure_cooldown_s=0)
    result = reasoner.select(LEFT, look_alike_scene())
    assert result.source == f"llm-fallback:{kind}"
    assert result.track_ids == (1,)  # the rule reasoner separates the look-alikes by motion
    assert result.rationale.startswith("LLM failed")


@pytest.mark.parametrize(("command", "expected"), [(LEFT, {1}), (STILL, {2}), (ALL_MOVING, {1, 3})])
def test_rule_fallback_picks_the_right_look_alikes_under_a_panning_camera(
    command: ParsedCommand, expected: set[int]
) -> None:
    reasoner = LLMMotionReasoner(None, fallback=RuleMotionReasoner())
    result = reasoner.select(command, look_alike_scene())
    assert result.source == "llm-fallback:unavailable"
    assert set(result.track_ids) == expected


def test_cardinality_caps_and_rationale_is_cleaned() -> None:
    raw = json.dumps({"track_ids": [3, 1, 3, 2], "rationale": "ok\u0000\n" + "y" * 500})
    ids, rationale = validate_answer(raw, [1, 2, 3], 2)
    assert ids == (3, 1)
    assert "\u0000" not in rationale and len(rationale) == 200
    assert validate_answer(raw, [1, 2, 3], "all")[0] == (3, 1, 2)
    with pytest.raises(LLMOutputError, match="do not exist"):
        validate_answer('{"track_ids": [4], "rationale": ""}', [1, 2, 3], 1)


def test_empty_scene_needs_no_llm_and_no_fallback_means_empty() -> None:
    runtime = ScriptedRuntime([])
    empty = SceneSummary(trajectories=[], camera_description="", occlusions=[], image_size=(64, 64), window_s=1.0)
    assert LLMMotionReasoner(runtime).select(LEFT, empty).track_ids == ()
    assert runtime.calls == []
    alone = LLMMotionReasoner(ScriptedRuntime([LLMError("down")]), fallback=None).select(LEFT, look_alike_scene())
    assert alone.track_ids == () and alone.source == "llm-fallback:error"


def test_serialization_caps_are_applied() -> None:
    runtime = ScriptedRuntime([json.dumps({"track_ids": [], "rationale": "none"})])
    LLMMotionReasoner(runtime, max_tracks=2, max_samples=3).select(LEFT, look_alike_scene())
    user = runtime.calls[0]["messages"][-1]["content"]
    assert user.count(' "dog" ') == 2 and "1 less visible tracks omitted" in user
    assert len(runtime.calls[0]["schema"]["properties"]["track_ids"]["items"]["enum"]) == 2


def test_parser_and_reasoner_share_one_runtime() -> None:
    from parse_vos_ros.config import load_config
    from parse_vos_ros.parsing.llm_parser import LLMParser

    config = load_config(None, {"parser.backend": "llm", "reasoner.backend": "llm", "llm.runtime": "openai"})
    parser, reasoner = LLMParser.from_config(config), LLMMotionReasoner.from_config(config)
    assert parser.runtime is reasoner.runtime  # one model in memory, not two
    assert isinstance(reasoner.fallback, RuleMotionReasoner)


class DirectionReader(ScriptedRuntime):
    """A deterministic stand-in for a capable LLM: answers with the track whose serialized
    direction word matches the sentence (exercises the prompt -> answer -> engine path)."""

    def __init__(self) -> None:
        super().__init__([])

    def _complete(self, messages: Messages, schema: Schema, max_tokens: int, deadline: Deadline) -> str:
        self.calls.append({"messages": list(messages), "schema": dict(schema)})
        user = messages[-1]["content"]
        want = "right" if "to the right" in user.split("Parsed:")[0] else "left"
        ids = [
            int(line[1:].split(" ")[0]) for line in user.splitlines() if line.startswith("T") and f"%/s {want}" in line
        ]
        return json.dumps({"track_ids": ids[:1], "rationale": f"moves {want}"})


@pytest.mark.parametrize("target", [0, 1])
def test_engine_end_to_end_with_the_llm_reasoner(target: int) -> None:
    from engine_doubles import RedBlobDetector, RedBlobSegmenter, iou, two_balls

    from parse_vos_ros.config import load_config
    from parse_vos_ros.engine import Engine

    clip = two_balls(n=45, pan_px=1.0)
    runtime = DirectionReader()
    engine = Engine(
        load_config(None),
        detector=RedBlobDetector(),
        segmenter=RedBlobSegmenter(),
        reasoner=LLMMotionReasoner(runtime, fallback=RuleMotionReasoner()),
    )
    engine.set_command(["the ball moving to the right", "the ball moving to the left"][target])
    results = [engine.push_frame(f, i / clip.fps) for i, f in enumerate(clip.frames)]
    assert runtime.calls and results[-1].trace["source"] == "llm"
    ious = np.array([iou(r.mask, clip.masks[target][i]) for i, r in enumerate(results)])
    assert (ious[-15:] > 0.7).all(), ious


class BlockingRuntime(ScriptedRuntime):
    """An LLM call that only ends when cancelled (or after 30 s): a stalled model."""

    def __init__(self) -> None:
        super().__init__([])
        self.entered = threading.Event()
        self.cancelled_after_s: float | None = None

    def _complete(self, messages: Messages, schema: Schema, max_tokens: int, deadline: Deadline) -> str:
        self.calls.append({"messages": list(messages)})
        start = time.monotonic()
        self.entered.set()
        if deadline.cancel is not None and deadline.cancel.wait(30.0):
            self.cancelled_after_s = time.monotonic() - start
            raise LLMError("cancelled")
        raise LLMError("timed out")


def test_a_new_command_cancels_the_in_flight_llm_call_without_a_cooldown() -> None:
    from engine_doubles import RedBlobDetector, RedBlobSegmenter, two_balls

    from parse_vos_ros.config import load_config
    from parse_vos_ros.engine import Engine

    clip = two_balls(n=30, pan_px=0.0)
    runtime = BlockingRuntime()
    reasoner = LLMMotionReasoner(runtime, fallback=RuleMotionReasoner(), failure_cooldown_s=60)
    engine = Engine(load_config(None), detector=RedBlobDetector(), segmenter=RedBlobSegmenter(),
                    reasoner=reasoner, async_reasoning=True)
    try:
        engine.set_command("the ball moving to the right")
        for i, frame in enumerate(clip.frames):
            engine.push_frame(frame, i / clip.fps)
            if runtime.entered.wait(0.05):
                break
        assert runtime.entered.is_set(), "the LLM reasoner was never called"
        sent = time.monotonic()
        engine.set_command("the ball moving to the left")
        deadline = sent + 5.0
        while runtime.cancelled_after_s is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runtime.cancelled_after_s is not None, "the stalled call was not cancelled"
        assert time.monotonic() - sent < 5.0
        assert not reasoner.gate.blocked(), "a cancel must not put the LLM into its failure cooldown"
    finally:
        engine.close()
