"""`parse-vos parse`: text and JSON output, clear errors with exit code 2, the LLM fallback."""

from __future__ import annotations

import json

import pytest

from parse_vos_ros.cli import main


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "uh, the two dogs running to the left", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["candidates"] == ["dog"] and record["cardinality"] == 2
    assert record["motion"] == ["running", "to the left"] and record["source"] == "rule"


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "the cat sitting on the sofa"]) == 0
    out = capsys.readouterr().out
    assert "candidates   cat" in out and "context      on the sofa" in out and "motion       -" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["parse", "   "], "command is empty"),
        (["parse", "the dog", "--set", "parser.backend=llm", "--set", "llm.model_path=/nope.gguf"], "not found"),
        (["parse", "the dog", "--set", "parser.max_command_chars=3"], "max_command_chars"),
        (["parse", "the dog", "--config", "no-such-profile"], "no profile named"),
    ],
)
def test_errors_exit_2_with_the_reason(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_llm_backend_without_model_falls_back_when_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["parse", "the dog jumping", "--json", "--set", "parser.backend=llm", "--set", "llm.model_path=/nope.gguf"]
    assert main([*argv, "--set", "fallback=embedded"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["source"] == "llm-fallback:unavailable" and record["candidates"] == ["dog"]
