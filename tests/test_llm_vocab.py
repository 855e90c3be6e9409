"""Where the Llama 3 tokenizer is looked up, and what the token-cost figure says without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from parse_vos_ros.bench.tokens import token_costs
from parse_vos_ros.config import load_config
from parse_vos_ros.llm.vocab import LLAMA3_VOCAB_FILE, cached_vocab_path, llama_vocab_path


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PARSE_VOS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PARSE_VOS_LLAMA_VOCAB", raising=False)
    return tmp_path


def test_lookup_order_is_explicit_then_environment_then_cache(empty_cache: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert llama_vocab_path() is None
    cached = cached_vocab_path()
    assert cached == empty_cache / "cache" / "llama-vocab" / LLAMA3_VOCAB_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"GGUF")
    assert llama_vocab_path() == cached
    from_env = empty_cache / "env.gguf"
    from_env.write_bytes(b"GGUF")
    monkeypatch.setenv("PARSE_VOS_LLAMA_VOCAB", str(from_env))
    assert llama_vocab_path() == from_env
    explicit = empty_cache / "explicit.gguf"
    explicit.write_bytes(b"GGUF")
    assert llama_vocab_path(explicit) == explicit
    assert llama_vocab_path(empty_cache / "missing.gguf") == from_env  # a missing explicit path falls through


def test_token_costs_say_in_one_line_what_is_missing(empty_cache: Path) -> None:
    result = token_costs(load_config("default"), vocab=empty_cache / "missing.gguf")
    assert list(result) == ["skipped"]
    reason = result["skipped"]
    assert "\n" not in reason and "missing.gguf" in reason and "make setup" in reason
