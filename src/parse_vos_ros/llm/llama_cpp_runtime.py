"""Local GGUF models through llama-cpp-python, with grammar-constrained JSON output.

The chat template is the GGUF's own (``tokenizer.chat_template``; Llama-3-8B-Instruct files carry
the Llama 3 template) unless ``llm.chat_format`` names one of llama-cpp-python's formats
(e.g. ``llama-3``). Generation streams token by token so a deadline or a cancel event stops it
between tokens; prompt evaluation itself cannot be interrupted, which bounds how late a stop can
come by one prompt's prefill time.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from parse_vos_ros.backends import BackendLoadError
from parse_vos_ros.config import Config
from parse_vos_ros.llm.base import Deadline, LLMError, LLMRuntime, Messages, Schema
from parse_vos_ros.llm.grammar import LLMOutputError, llama_grammar

GGUF_MAGIC = b"GGUF"


def check_gguf(path: str | os.PathLike[str]) -> Path:
    """The path of a readable GGUF file; raises ``BackendLoadError`` naming the key and the fix."""
    p = Path(path)
    if not str(path):
        raise BackendLoadError("llm.model_path is empty: set it to a GGUF file (or run `parse-vos models download`)")
    if not p.is_file():
        raise BackendLoadError(
            f"llm.model_path: GGUF file not found: {p} (check the path or `parse-vos models download`)"
        )
    with open(p, "rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise BackendLoadError(f"llm.model_path: {p} is not a GGUF file (header {magic!r}); re-download it")
    return p


class LlamaCppRuntime(LLMRuntime):
    """``LLMRuntime`` over an in-process ``llama_cpp.Llama``; one generation at a time.

    Args:
        model_path: GGUF file.
        n_ctx: context window in tokens.
        n_threads: CPU threads (0 = llama.cpp's default).
        chat_format: "" for the GGUF's template, else a llama-cpp-python chat format name.
        temperature: 0 = greedy.
        seed: sampling seed, for reproducible runs.
        n_gpu_layers: layers offloaded to the GPU (-1 = all; ignored by a CPU-only build).
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        n_ctx: int = 4096,
        n_threads: int = 0,
        chat_format: str = "",
        temperature: float = 0.0,
        seed: int = 0,
        n_gpu_layers: int = 0,
    ) -> None:
        path = check_gguf(model_path)
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            msg = f"llm.runtime 'llama_cpp' needs llama-cpp-python ({exc}); see requirements/llm.txt"
            raise BackendLoadError(msg) from None
        try:
            self.llm = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads or None,
                chat_format=chat_format or None,
                seed=seed,
                n_gpu_layers=n_gpu_layers,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise BackendLoadError(f"llm.model_path: llama.cpp could not load {path}: {exc} (corrupt file?)") from None
        self.model_path = path
        self.temperature = temperature
        self._lock = threading.Lock()  # a Llama context serves one generation at a time

    @classmethod
    def from_config(cls, config: Config) -> LlamaCppRuntime:
        c = config.llm
        return cls(
            c.model_path,
            n_ctx=c.n_ctx,
            n_threads=c.n_threads,
            chat_format=c.chat_format,
            temperature=c.temperature,
            seed=c.seed,
            n_gpu_layers=c.n_gpu_layers,
        )

    def _complete(self, messages: Messages, schema: Schema, max_tokens: int, deadline: Deadline) -> str:
        """Grammar-constrained chat completion; the raw text (callers validate it).

        Raises:
            LLMError: busy past the deadline, timed out, cancelled, prompt too long.
            LLMOutputError: generation stopped at ``max_tokens`` (the JSON is incomplete).
        """
        grammar = llama_grammar(schema)
        if not self._lock.acquire(timeout=max(deadline.timeout_s, 0.0)):
            raise LLMError(f"llama.cpp busy with another request for {deadline.timeout_s:.1f}s")
        try:
            return self._generate(messages, grammar, max_tokens, deadline)
        finally:
            self._lock.release()

    def _generate(self, messages: Messages, grammar: Any, max_tokens: int, deadline: Deadline) -> str:
        try:
            stream = self.llm.create_chat_completion(
                messages=[dict(m) for m in messages],
                grammar=grammar,
                max_tokens=max_tokens,
                temperature=self.temperature,
                stream=True,
            )
        except ValueError as exc:  # e.g. the prompt exceeds n_ctx
            raise LLMError(f"llama.cpp rejected the request: {exc}") from None
        pieces: list[str] = []
        finish = None
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                pieces.append(choice.get("delta", {}).get("content") or "")
                finish = choice.get("finish_reason") or finish
                deadline.check(f" ({len(pieces)} tokens generated)")
        except ValueError as exc:  # llama.cpp reports a context overflow during generation this way
            raise LLMError(f"llama.cpp failed while generating: {exc}") from None
        finally:
            stream.close()
        if finish == "length":
            raise LLMOutputError(f"output truncated at max_tokens={max_tokens} before the JSON closed")
        return "".join(pieces)
