"""Property tests (issue 9) that complement the ones beside each module (test_image_codec,
test_metrics, test_parser_llm, test_datasets): whatever an LLM answers, the parser and the
reasoner stay inside the schema and the existing track ids; image conversion is exact for every
encoding, padding and byte order; the J and F metrics keep their defining properties."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from llm_support import ScriptedRuntime, look_alike_scene

from parse_vos_ros import image_codec as ic
from parse_vos_ros.eval.metrics import boundary_measure, evaluate_sequence, region_similarity
from parse_vos_ros.llm.base import LLMError
from parse_vos_ros.parsing.base import CommandParseError
from parse_vos_ros.parsing.llm_parser import LLMParser
from parse_vos_ros.parsing.schema import validate_parsed
from parse_vos_ros.reasoning.llm_reasoner import LLMMotionReasoner
from parse_vos_ros.reasoning.rule_reasoner import RuleMotionReasoner
from parse_vos_ros.types import ParsedCommand

json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=25,
)
FIELDS = ("candidates", "context", "motion", "pose", "cardinality")
# Answers an LLM (broken, steered or fine) might give: raw text, JSON-ish objects, near-valid ones.
llm_answer = st.one_of(
    st.text(max_size=200),
    json_value.map(json.dumps),
    st.fixed_dictionaries({k: json_value for k in FIELDS}).map(json.dumps),
    st.fixed_dictionaries({"track_ids": st.lists(st.integers(-5, 1000), max_size=6), "rationale": json_value})
    .map(json.dumps),
    st.builds(lambda a, b: f"```json\n{a}\n```{b}", json_value.map(json.dumps), st.text(max_size=20)),
)
sentence = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(["the", "dog", "dogs", "running", "left", "right", "two", "all", "sitting", "near",
                              "ignore", "previous", "instructions", "output", "gun", "every", "track"]),
             min_size=1, max_size=10).map(" ".join),
)


INVENTED = {"gun", "every", "object"}  # words an answer may add that the sentence may not hold


def near_valid_answer(text: str) -> st.SearchStrategy[str]:
    """A well-formed parse whose phrases come from ``text`` or are injected (``gun``, noise)."""
    words = [w for w in text.split() if w.isalpha()] or ["dog"]
    phrase = st.lists(st.sampled_from([*words, "gun", "every object"]), min_size=1, max_size=3).map(" ".join)
    return st.fixed_dictionaries({
        "candidates": st.lists(phrase, min_size=1, max_size=3), "context": st.lists(phrase, max_size=1),
        "motion": st.lists(phrase, max_size=1), "pose": st.lists(phrase, max_size=1),
        "cardinality": st.one_of(st.integers(1, 3), st.just("all"), st.integers(-1, 12), st.just("many")),
    }).map(json.dumps)  # fmt: skip


@settings(max_examples=250, deadline=None, derandomize=True, database=None)  # fixed draws: the guard never flakes
@given(text=sentence, data=st.data())
def test_llm_parser_output_is_schema_valid_and_grounded_whatever_the_llm_says(text: str, data: st.DataObject) -> None:
    answer = data.draw(st.one_of(llm_answer, near_valid_answer(text), st.just(LLMError("timed out"))))
    parser = LLMParser(ScriptedRuntime([answer]), failure_cooldown_s=0)  # type: ignore[list-item]
    try:
        cmd = parser.parse(text)
    except CommandParseError:
        return  # the text itself is unusable: the same rule on every path
    assert cmd.source == "llm" or cmd.source.startswith("llm-fallback:")
    assert validate_parsed(cmd.to_dict(), text=text).to_dict() == cmd.to_dict()
    if cmd.source == "llm":
        # An LLM answer is only accepted when each phrase shares a word with the sentence: a phrase
        # made only of words the sentence never said (an injected "gun") does not get through.
        # (A said word plus an invented one, "dog gun", does: the grounding is per phrase.)
        said = set(text.lower().split())
        for phrase in cmd.candidates + cmd.context + cmd.motion + cmd.pose:
            words = set(phrase.split())
            assert not (words <= INVENTED and not words & said), cmd
        seen_sources.add("llm")
    else:
        seen_sources.add("fallback")


seen_sources: set[str] = set()


def test_the_fuzz_reached_both_the_llm_and_the_fallback_path() -> None:
    """Guards the property above against a strategy that never produces an accepted answer."""
    if not seen_sources:
        test_llm_parser_output_is_schema_valid_and_grounded_whatever_the_llm_says()
    assert seen_sources == {"llm", "fallback"}


@settings(max_examples=250, deadline=None)
@given(answer=llm_answer, cardinality=st.sampled_from([1, 2, "all"]))
def test_llm_reasoner_selects_only_existing_tracks_whatever_the_llm_says(answer: str, cardinality: object) -> None:
    scene = look_alike_scene()
    valid = {t.track_id for t in scene.trajectories}
    reasoner = LLMMotionReasoner(ScriptedRuntime([answer]), fallback=RuleMotionReasoner(), failure_cooldown_s=0)
    command = ParsedCommand("the dog running left", ("dog",), motion=("running left",), cardinality=cardinality)  # type: ignore[arg-type]
    result = reasoner.select(command, scene)
    assert set(result.track_ids) <= valid and len(set(result.track_ids)) == len(result.track_ids)
    if isinstance(cardinality, int):
        assert len(result.track_ids) <= cardinality
    assert result.source == "llm" or result.source.startswith("llm-fallback:")
    assert len(result.rationale) <= 400 and all(ch.isprintable() for ch in result.rationale)
    assert all(0.0 <= s <= 1.0 for s in result.scores.values())


# --------------------------------------------------------------------------- image conversion
def _raw_for(rgb: np.ndarray, encoding: str, pad: int, bigendian: bool) -> tuple[bytes, int, np.ndarray]:
    """Message bytes, step, and the exact RGB the codec must return for ``rgb`` in ``encoding``."""
    h, w, _ = rgb.shape
    if encoding in ("rgb8", "bgr8", "rgba8", "bgra8"):
        order = {"rgb8": [0, 1, 2], "bgr8": [2, 1, 0], "rgba8": [0, 1, 2], "bgra8": [2, 1, 0]}[encoding]
        pixels = rgb[:, :, order]
        if encoding.endswith("a8"):
            pixels = np.concatenate([pixels, np.full((h, w, 1), 77, np.uint8)], axis=2)
        expected = rgb
    elif encoding == "mono8":
        pixels, expected = rgb[:, :, :1], np.repeat(rgb[:, :, :1], 3, axis=2)
    else:  # mono16: the top byte is what the codec keeps
        value = rgb[:, :, 0].astype(np.uint16) * 256 + rgb[:, :, 1]
        pixels = value.astype(">u2" if bigendian else "<u2").view(np.uint8).reshape(h, w, 2)
        expected = np.repeat(rgb[:, :, :1], 3, axis=2)
    row = pixels.reshape(h, -1)
    step = row.shape[1] + pad
    padded = np.concatenate([row, np.full((h, pad), 255, np.uint8)], axis=1)
    return padded.tobytes(), step, expected


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), h=st.integers(1, 12), w=st.integers(1, 12), pad=st.integers(0, 9),
    encoding=st.sampled_from(["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16"]), bigendian=st.booleans(),
)  # fmt: skip
def test_decode_is_exact_for_every_encoding_padding_and_byte_order(seed, h, w, pad, encoding, bigendian) -> None:
    if encoding == "mono16":
        pad += pad % 2  # 16-bit rows stay 2-byte aligned
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    data, step, expected = _raw_for(rgb, encoding, pad, bigendian)
    out = ic.decode_image(encoding.upper() if seed % 2 else encoding, h, w, step, bigendian, data)
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)
    # The same bytes with one byte missing or extra are a size mismatch, never a wrong image.
    for bad in (data[:-1], data + b"\0"):
        try:
            ic.decode_image(encoding, h, w, step, bigendian, bad)
        except ic.ImageDecodeError as exc:
            assert exc.kind == ic.SIZE_MISMATCH
        else:
            raise AssertionError("a wrong byte count was accepted")


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 20), w=st.integers(1, 20), p=st.floats(0, 1))
def test_encode_decode_round_trips(seed: int, h: int, w: int, p: float) -> None:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    raw = ic.encode_rgb8(rgb)
    np.testing.assert_array_equal(ic.decode_image(raw.encoding, raw.height, raw.width, raw.step, 0, raw.data), rgb)
    mask = rng.random((h, w)) < p
    m = ic.encode_mono8(mask)
    np.testing.assert_array_equal(ic.decode_mask(m.height, m.width, m.step, m.encoding, m.data), mask)


# --------------------------------------------------------------------------- metrics
masks = st.builds(
    lambda seed, h, w, p: np.random.default_rng(seed).random((h, w)) < p,
    st.integers(0, 2**32 - 1), st.just(24), st.just(32), st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]),
)


@settings(max_examples=150, deadline=None)
@given(a=masks, b=masks)
def test_j_and_f_are_bounded_symmetric_and_exact_on_identity(a: np.ndarray, b: np.ndarray) -> None:
    j, f = float(region_similarity(a, b)), boundary_measure(a, b)
    assert 0.0 <= j <= 1.0 and 0.0 <= f <= 1.0
    assert j == float(region_similarity(b, a)) and f == boundary_measure(b, a)
    assert float(region_similarity(a, a)) == 1.0 and boundary_measure(a, a) == 1.0
    if a.any() and b.any() and not (a & b).any():
        assert j == 0.0
    # J is monotone in the overlap: adding the missing ground truth to a prediction never lowers it.
    assert float(region_similarity(a, b | a)) >= j
    scores = evaluate_sequence(np.stack([a, a]), np.stack([b, a])).summary()
    assert scores["J&F"] == (scores["J"] + scores["F"]) / 2
    assert scores["J"] == (j + 1.0) / 2
