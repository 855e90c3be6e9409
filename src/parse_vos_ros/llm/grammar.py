"""JSON-schema grammars for llama.cpp, and recovery of the JSON object from a raw completion.

The grammar keeps a local model inside the schema's syntax, but not inside its meaning (it lets
control characters, integers out of range and truncated output through), and a remote server may
not apply it at all. So every completion goes through ``extract_json_object`` and then the
caller's validation.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from parse_vos_ros.llm.base import LLMError

_CACHE: dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()
_MAX_CACHED = 64  # reasoner schemas differ by the set of track ids; keep the cache bounded


class LLMOutputError(LLMError):
    """The completion holds no usable JSON object (empty, prose only, truncated)."""


def llama_grammar(schema: Mapping[str, Any]) -> Any:
    """A ``llama_cpp.LlamaGrammar`` for ``schema`` (cached by the schema's JSON text)."""
    from llama_cpp import LlamaGrammar

    key = json.dumps(schema, sort_keys=True)
    with _CACHE_LOCK:
        grammar = _CACHE.get(key)
        if grammar is None:
            if len(_CACHE) >= _MAX_CACHED:
                _CACHE.clear()
            grammar = _CACHE[key] = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    return grammar


def extract_json_object(text: str) -> str:
    """The first complete top-level JSON object in ``text``.

    Repairs what chat models commonly wrap around the answer (Markdown fences, a sentence before
    or after the object); anything else is rejected with the reason.

    Raises:
        LLMOutputError: empty output, no ``{``, or an object that never closes (truncated).
    """
    if not text or not text.strip():
        raise LLMOutputError("empty completion")
    start = text.find("{")
    if start < 0:
        raise LLMOutputError(f"no JSON object in the completion: {text[:80]!r}")
    depth = 0
    in_string = False
    escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    raise LLMOutputError(f"truncated JSON object ({len(text) - start} characters, never closed)")
