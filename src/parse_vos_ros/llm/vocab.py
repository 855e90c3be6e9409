"""Where the Llama 3 tokenizer (a vocabulary-only GGUF, no weights) lives on this machine.

The tokenizer counts tokens in ``parse-vos bench`` and wraps the tiny random-weight test model
(``llm/tiny_model.py``). It is not vendored: ``scripts/setup.sh`` copies it from the
llama-cpp-python sdist it builds (``vendor/llama.cpp/models/ggml-vocab-llama-bpe.gguf``, MIT) into
the project cache. Look-up order: an explicit path, ``$PARSE_VOS_LLAMA_VOCAB``, the cache.
"""

from __future__ import annotations

import os
from pathlib import Path

LLAMA3_VOCAB_FILE = "ggml-vocab-llama-bpe.gguf"
VOCAB_ENV = "PARSE_VOS_LLAMA_VOCAB"
CACHE_ENV = "PARSE_VOS_CACHE"


def cache_dir() -> Path:
    """The project cache: ``$PARSE_VOS_CACHE``, else ``~/.cache/parse_vos_ros`` (as in setup.sh)."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "parse_vos_ros"


def cached_vocab_path() -> Path:
    """Where ``scripts/setup.sh`` puts the Llama 3 tokenizer GGUF."""
    return cache_dir() / "llama-vocab" / LLAMA3_VOCAB_FILE


def _candidates(explicit: str | os.PathLike[str] | None) -> list[Path]:
    """The places looked at, in order: ``explicit``, ``$PARSE_VOS_LLAMA_VOCAB``, the cache."""
    return [Path(c) for c in (explicit, os.environ.get(VOCAB_ENV), cached_vocab_path()) if c]


def llama_vocab_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The first existing tokenizer file of: ``explicit``, ``$PARSE_VOS_LLAMA_VOCAB``, the cache.

    Returns None when none exists; :func:`missing_vocab_message` says what to do then.
    """
    return next((c for c in _candidates(explicit) if c.is_file()), None)


def missing_vocab_message(explicit: str | os.PathLike[str] | None = None) -> str:
    """One line naming the places looked at and the fix."""
    looked = [str(c) for c in _candidates(explicit)]
    return (f"Llama 3 tokenizer ({LLAMA3_VOCAB_FILE}) not found (looked at: {', '.join(looked)}); "
            f"run `make setup`, or pass its path with --llama-vocab or ${VOCAB_ENV}")
