"""llama.cpp end to end: a tiny random-weight GGUF around the real Llama 3 vocabulary and chat
template, plus the real SmolLM2-135M-Instruct; grammar-constrained output is always either
schema-valid or rejected with a clear reason; load faults name the key and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_support import assert_stops_on_timeout_and_cancel, look_alike_scene, smollm2_gguf, tiny_gguf

from parse_vos_ros.backends import BackendLoadError
from parse_vos_ros.config import load_config
from parse_vos_ros.llm.grammar import LLMOutputError, extract_json_object
from parse_vos_ros.parsing.llm_parser import LLMParser
from parse_vos_ros.parsing.schema import SchemaError, validate_parsed
from parse_vos_ros.reasoning.llm_reasoner import LLMMotionReasoner

pytestmark = pytest.mark.llama

# The parse schema with short strings, so that noise from random weights still closes its JSON
# within the token budget and the validation path (not only the truncation path) is exercised.
SHORT_SCHEMA = {
    "type": "object",
    "properties": {
        **{
            f: {"type": "array", "items": {"type": "string", "maxLength": 4}, "maxItems": 1}
            for f in ("candidates", "context", "motion", "pose")
        },
        "cardinality": {"anyOf": [{"type": "integer"}, {"type": "string", "enum": ["all"]}]},
    },
    "required": ["candidates", "context", "motion", "pose", "cardinality"],
    "additionalProperties": False,
}
MESSAGES = [{"role": "system", "content": "Parse the sentence."}, {"role": "user", "content": "the dog running"}]


@pytest.fixture(scope="module")
def tiny_runtime():
    from parse_vos_ros.llm.llama_cpp_runtime import LlamaCppRuntime

    return LlamaCppRuntime(tiny_gguf(), n_ctx=1024, n_threads=1, seed=1)


def test_gguf_chat_template_is_the_llama3_one(tiny_runtime) -> None:
    llm = tiny_runtime.llm
    assert llm.chat_format == "chat_template.default"
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"], eos_token="<|eot_id|>", bos_token="<|begin_of_text|>"
    )  # what Llama builds from the GGUF metadata for chat_template.default
    prompt = formatter(messages=MESSAGES).prompt
    assert prompt.startswith(
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nParse the sentence.<|eot_id|>"
    )
    assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    # Special tokens are single vocabulary entries, as in the real model.
    assert len(llm.tokenize(b"<|eot_id|>", add_bos=False, special=True)) == 1


def test_output_is_schema_valid_or_rejected_with_a_reason(tiny_runtime) -> None:
    seed_text = "the dog running"
    messages = [MESSAGES[0], {"role": "user", "content": seed_text}]
    try:  # generous deadline: this checks validity, not speed (a 128k-vocab grammar is CPU-heavy)
        raw = tiny_runtime.complete_json(messages, SHORT_SCHEMA, max_tokens=64, timeout_s=300)
    except LLMOutputError as exc:
        assert "truncated" in str(exc)
        return
    obj = json.loads(extract_json_object(raw))  # the grammar guarantees syntax ...
    assert set(obj) == {"candidates", "context", "motion", "pose", "cardinality"}
    try:  # ... but only validation guarantees meaning (control characters, empty lists, range)
        parsed = validate_parsed(obj, text=seed_text, source="llm")
        assert parsed.candidates
    except SchemaError as exc:
        assert exc.field in obj or exc.field == "<json>"


def test_timeout_and_cancel_stop_generation(tiny_runtime) -> None:
    assert_stops_on_timeout_and_cancel(
        tiny_runtime, MESSAGES, SHORT_SCHEMA, max_tokens=400, timeout_s=0.3, within_s=5.0
    )


def test_llm_parser_with_noise_model_falls_back_and_stays_valid(tiny_runtime) -> None:
    parser = LLMParser(tiny_runtime, max_tokens=24, timeout_s=300, failure_cooldown_s=0)
    cmd = parser.parse("the dog running to the left")
    # Random weights cannot produce a grounded parse: the rule parser answers, and says why.
    assert cmd.source.startswith("llm-fallback:")
    assert cmd.candidates == ("dog",) and cmd.motion == ("running", "to the left")


def test_reasoner_with_tiny_model_returns_existing_ids_or_falls_back(tiny_runtime) -> None:
    from parse_vos_ros.reasoning.rule_reasoner import RuleMotionReasoner
    from parse_vos_ros.types import ParsedCommand

    reasoner = LLMMotionReasoner(
        tiny_runtime, fallback=RuleMotionReasoner(), max_tokens=24, timeout_s=300, failure_cooldown_s=0
    )
    scene = look_alike_scene()
    command = ParsedCommand("the dog running to the left", ("dog",), motion=("running", "to the left"))
    result = reasoner.select(command, scene)
    assert set(result.track_ids) <= {1, 2, 3}
    assert result.source == "llm" or result.source.startswith("llm-fallback:")
    if result.source.startswith("llm-fallback:"):
        assert result.track_ids == (1,)  # the rule reasoner picks the dog moving left


def test_missing_and_corrupt_model_files_name_the_key(tmp_path: Path) -> None:
    config = load_config(None, {"parser.backend": "llm", "llm.model_path": str(tmp_path / "nope.gguf")})
    with pytest.raises(BackendLoadError, match=r"llm.model_path: GGUF file not found"):
        LLMParser.from_config(config)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"<html>404</html>")
    with pytest.raises(BackendLoadError, match="not a GGUF file"):
        LLMParser.from_config(load_config(None, {"llm.model_path": str(bad)}))
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(tiny_gguf().read_bytes()[:100_000])
    with pytest.raises(BackendLoadError, match="could not load"):
        LLMMotionReasoner.from_config(load_config(None, {"llm.model_path": str(truncated)}))
    # With fallback: embedded the rule path runs and the source says why.
    parser = LLMParser.from_config(load_config(None, {"llm.model_path": str(truncated), "fallback": "embedded"}))
    cmd = parser.parse("the cat jumping")
    assert cmd.source == "llm-fallback:unavailable" and cmd.candidates == ("cat",)


def test_smollm2_parses_to_valid_commands() -> None:
    from parse_vos_ros.llm.llama_cpp_runtime import LlamaCppRuntime

    runtime = LlamaCppRuntime(smollm2_gguf(), n_ctx=2048, n_threads=1)
    parser = LLMParser(runtime, timeout_s=300, failure_cooldown_s=0)
    text = "the two people walking away"
    cmd = parser.parse(text)
    assert cmd.candidates  # valid by construction: validated or the rule fallback
    assert cmd.source == "llm" or cmd.source in ("llm-fallback:invalid", "llm-fallback:truncated")
    if cmd.source == "llm":
        assert any(word[:4] in text for c in cmd.candidates for word in c.split())
