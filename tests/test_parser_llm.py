"""LLM parser logic with a scripted runtime: validation, grounding, every fallback kind, the
failure cooldown and recovery; property tests for the rule parser and the schema gate."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llm_support import ScriptedRuntime

from parse_vos_ros.llm.base import LLMError
from parse_vos_ros.llm.grammar import LLMOutputError, extract_json_object
from parse_vos_ros.llm.runtime import FailureGate
from parse_vos_ros.parsing.base import CommandParseError
from parse_vos_ros.parsing.llm_parser import LLM_PARSE_SCHEMA, LLMParser, check_grounded
from parse_vos_ros.parsing.rule import RuleParser
from parse_vos_ros.parsing.schema import PARSED_COMMAND_SCHEMA, SchemaError, validate_parsed

GOOD = {"candidates": ["dog"], "context": [], "motion": ["running", "to the left"], "pose": [], "cardinality": 1}


def test_valid_answer_is_used_and_the_prompt_quotes_the_sentence() -> None:
    runtime = ScriptedRuntime([json.dumps(GOOD)])
    cmd = LLMParser(runtime).parse('the dog runs to the left """ now')
    assert cmd.source == "llm" and cmd.motion == ("running", "to the left")
    user = runtime.calls[0]["messages"][-1]["content"]
    assert user == 'Sentence: """the dog runs to the left \' now"""'  # the delimiter cannot be closed early
    assert runtime.calls[0]["schema"] == LLM_PARSE_SCHEMA


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (LLMError("timed out after 20.0s"), "timeout"),
        (LLMError("cancelled"), "cancelled"),
        (LLMError("ConnectionRefusedError"), "error"),
        (LLMOutputError("output truncated at max_tokens=256"), "truncated"),
        ("Sure! Here is the parse.", "invalid"),
        ('{"candidates": ["dog"]}', "invalid"),
        ('{"candidates": ["dog\\u0007"], "context": [], "motion": [], "pose": [], "cardinality": 1}', "invalid"),
        ('{"candidates": ["dog"], "context": [], "motion": [], "pose": [], "cardinality": 0}', "invalid"),
        ('{"candidates": ["helicopter"], "context": [], "motion": [], "pose": [], "cardinality": 1}', "invalid"),
    ],
)
def test_every_failure_falls_back_to_the_rule_parse(answer: object, kind: str) -> None:
    parser = LLMParser(ScriptedRuntime([answer]), failure_cooldown_s=0)
    cmd = parser.parse("the dog running to the left")
    assert cmd.source == f"llm-fallback:{kind}"
    assert cmd.to_dict() == RuleParser().parse("the dog running to the left").to_dict()


def test_fenced_answer_is_repaired() -> None:
    answer = "```json\n" + json.dumps(GOOD) + "\n```\nHope this helps"
    assert LLMParser(ScriptedRuntime([answer])).parse("the dog running to the left").source == "llm"


def test_bad_input_never_reaches_the_llm() -> None:
    runtime = ScriptedRuntime([])
    parser = LLMParser(runtime)
    for text in ("", "   ", "x" * 100_000, "dog\x1b[2J"):
        with pytest.raises(CommandParseError):
            parser.parse(text)
    assert runtime.calls == []


def test_cooldown_skips_a_failing_llm_then_recovers() -> None:
    now = [0.0]
    runtime = ScriptedRuntime([LLMError("timed out after 1s"), json.dumps(GOOD)])
    parser = LLMParser(runtime, failure_cooldown_s=10)
    parser.gate = FailureGate(10, clock=lambda: now[0])
    assert parser.parse("the dog running to the left").source == "llm-fallback:timeout"
    now[0] = 5.0
    assert parser.parse("the dog running to the left").source == "llm-fallback:cooldown"
    assert len(runtime.calls) == 1  # the stalled LLM was not asked again
    now[0] = 10.5
    assert parser.parse("the dog running to the left").source == "llm"
    assert parser.gate.failures == 1


def test_grounding_accepts_normalised_forms() -> None:
    text = "the two puppies ran towards the big sofa"
    ok = validate_parsed({**GOOD, "candidates": ["puppy"], "motion": ["running", "towards the sofa"]}, text=text)
    check_grounded(ok, text)
    with pytest.raises(SchemaError, match="does not come from the sentence"):
        check_grounded(validate_parsed({**GOOD, "context": ["near the door"]}, text=text), text)


def test_extract_json_object_cases() -> None:
    assert extract_json_object('noise {"a": "}{"} tail') == '{"a": "}{"}'
    for bad, reason in (("", "empty"), ("no json", "no JSON"), ('{"a": [1, 2', "truncated")):
        with pytest.raises(LLMOutputError, match=reason):
            extract_json_object(bad)


def test_llm_schema_is_tighter_than_the_validation_schema() -> None:
    assert (
        LLM_PARSE_SCHEMA["properties"]["candidates"]["maxItems"]
        < PARSED_COMMAND_SCHEMA["properties"]["candidates"]["maxItems"]
    )
    assert LLM_PARSE_SCHEMA["required"] == PARSED_COMMAND_SCHEMA["required"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_rule_parser_never_crashes(text: str) -> None:
    try:
        cmd = RuleParser().parse(text)
    except CommandParseError:
        return
    assert cmd.candidates
    assert validate_parsed(cmd.to_dict(), text=text).to_dict() == cmd.to_dict()  # always inside the schema


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
        max_leaves=20,
    )
)
def test_schema_gate_accepts_or_raises_schema_error(obj: object) -> None:
    for candidate in (obj, json.dumps(obj), {**GOOD, "candidates": obj}, {**GOOD, "cardinality": obj}):
        try:
            cmd = validate_parsed(candidate)  # type: ignore[arg-type]
        except SchemaError:
            continue
        assert cmd.candidates and all(isinstance(c, str) and c for c in cmd.candidates)
        assert cmd.cardinality == "all" or (isinstance(cmd.cardinality, int) and cmd.cardinality >= 1)
